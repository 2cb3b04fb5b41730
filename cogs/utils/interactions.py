"""Acknowledging an interaction, and turning it into where a job's result goes."""

from __future__ import annotations

import time

import discord

from bot.actions.submissions import Destination

TOKEN_LIFETIME = 15 * 60
TOKEN_MARGIN = 30  # stop using a token shortly before Discord does


async def defer_public(interaction: discord.Interaction) -> int:
    """Acknowledge within Discord's 3 s; returns the id of the public "thinking…" message."""
    response = await interaction.response.defer(thinking=True)
    if response is not None and response.message_id is not None:
        return response.message_id
    return (await interaction.original_response()).id


def destination_of(interaction: discord.Interaction, message_id: int) -> Destination:
    """The job's result edits ``message_id`` while the token lives, then goes to the channel. It is
    uploaded where the command was used: that interaction's upload limit is kept with the job."""
    return Destination(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        application_id=interaction.application_id,
        interaction_token=interaction.token,
        token_expires_at=time.time() + TOKEN_LIFETIME - TOKEN_MARGIN,
        message_id=message_id,
        upload_limit=interaction.filesize_limit,
    )
