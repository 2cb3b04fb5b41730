"""One place that turns every command error into a clear private message (Red's ``on_error`` ladder)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import LikenessError
from cogs.replies import tell
from storage import CharacterError, UserBusy

log = logging.getLogger(__name__)

# Errors whose text is written for the user (storage's character errors name only the user's own data).
USER_ERRORS = (LikenessError, CharacterError, UserBusy)


def describe(error: Exception) -> str | None:
    """The user's message for an expected error; None means a bug (logged with a traceback)."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        original = error.__cause__ if isinstance(error, app_commands.TransformerError) else error.original
        if isinstance(original, USER_ERRORS):
            return str(original)
        if isinstance(error, app_commands.TransformerError):
            return f"“{error.value}” is not a valid {error.type.name.lower()} for this option"
        return None
    if isinstance(error, USER_ERRORS):
        return str(error)
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"slow down: try again in {error.retry_after:.0f} s"
    if isinstance(error, app_commands.CheckFailure):
        return "you cannot use this command here"
    return None


class Errors(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        bot.tree.on_error = self.on_app_command_error

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        message = describe(error)
        if message is None:
            log.error(
                "command %s failed (interaction %s)",
                interaction.command.name if interaction.command else "?",
                interaction.id,
                exc_info=error,
            )
            message = f"something went wrong on our side (reference {interaction.id}); it has been logged"
        await tell(interaction, message, replace_original=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Errors(bot))
