"""Queue a validated request for an interaction and announce its place in the queue."""

from __future__ import annotations

import time

import discord

from bot.client import LikenessBot
from bot.jobs import GenerationRequest
from bot.requests import new_job_fields
from storage import JobOrigin

TOKEN_LIFETIME = 15 * 60
TOKEN_MARGIN = 30  # stop using a token shortly before Discord does


async def defer_public(interaction: discord.Interaction) -> int | None:
    """Acknowledge within Discord's 3 s; returns the id of the "thinking…" message."""
    response = await interaction.response.defer(thinking=True)
    return response.message_id if response is not None else None


async def enqueue(
    bot: LikenessBot,
    interaction: discord.Interaction,
    request: GenerationRequest,
    *,
    message_id: int | None,
    image: tuple[bytes, str] | None = None,
    mask: tuple[bytes, str] | None = None,
    origin: JobOrigin = JobOrigin.COMMAND,
    parent_job_id: int | None = None,
    character_id: int | None = None,
) -> None:
    if message_id is None:
        message_id = (await interaction.original_response()).id
    fields = new_job_fields(
        request,
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        character_id=character_id,
        application_id=interaction.application_id,
        interaction_token=interaction.token,
        message_id=message_id,
        token_expires_at=time.time() + TOKEN_LIFETIME - TOKEN_MARGIN,
        # The result is uploaded where the command was used: that interaction's limit, kept with the job.
        upload_limit=interaction.filesize_limit,
        origin=origin,
        parent_job_id=parent_job_id,
    )
    delivery = bot.get_cog("Delivery")
    assert delivery is not None
    ticket = await bot.services.queue.submit(fields, image, mask)
    await delivery.announce(ticket)  # type: ignore[attr-defined]
