"""Answer an interaction privately whatever state it is in: the response, or an ephemeral followup;
and answer any error the same way, from slash commands and buttons alike."""

from __future__ import annotations

import logging

import discord

from bot.explain import bug_message, explain

log = logging.getLogger(__name__)


async def tell(interaction: discord.Interaction, message: str, *, replace_original: bool = False) -> None:
    """Send ``message`` privately to the user who acted; if Discord refuses, log it and drop it.

    A private answer is never posted in the channel instead: it may name the user's private data
    (a character, a job of theirs). After a public ``defer(thinking=True)`` the "thinking…" message
    would stay forever, and Discord would turn the first followup into that public message, so
    ``replace_original`` deletes it first; if it cannot be deleted, nothing is sent.
    """
    message = message[:1900]
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(message, ephemeral=True)
            return
        if replace_original:
            try:
                await interaction.delete_original_response()
            except discord.NotFound:
                log.debug("original response of interaction %s already gone", interaction.id)
        await interaction.followup.send(message, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning(
            "could not answer interaction %s privately (%s); the answer was dropped", interaction.id, exc
        )


async def tell_error(interaction: discord.Interaction, error: BaseException, *, action: str) -> None:
    """The user's message for ``error`` (``bot.explain``), privately; a bug is logged with its
    traceback under the interaction's id, and the user gets that reference."""
    explained = explain(error)
    if explained is None:
        log.error("%s failed (interaction %s)", action, interaction.id, exc_info=error)
        message = bug_message(interaction.id)
    else:
        message = explained.message
    await tell(interaction, message, replace_original=True)
