"""Answer an interaction whatever state it is in: response, followup, or the channel as a last resort."""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)


async def tell(interaction: discord.Interaction, message: str, *, replace_original: bool = False) -> None:
    """Send ``message`` privately to the user who acted.

    After a public ``defer(thinking=True)`` the "thinking…" message would stay forever, so
    ``replace_original`` deletes it first.
    """
    message = message[:1900]
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(message, ephemeral=True)
            return
        if replace_original:
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                log.debug("original response already gone")
        await interaction.followup.send(message, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction %s (%s); posting in the channel", interaction.id, exc)
        channel = interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            await channel.send(
                f"{interaction.user.mention} {message}", allowed_mentions=discord.AllowedMentions(users=True)
            )
