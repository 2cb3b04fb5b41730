"""One handler for every slash command's error: a clear private message (Red's ``on_error`` ladder),
written by ``bot.explain`` like every other entry point's."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.explain import explain
from cogs.utils.replies import tell, tell_error


def _original(error: app_commands.AppCommandError) -> BaseException:
    """What the command itself raised, out of discord.py's wrappers."""
    if isinstance(error, app_commands.CommandInvokeError):
        return error.original
    if isinstance(error, app_commands.TransformerError) and error.__cause__ is not None:
        return error.__cause__
    return error


class Errors(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        bot.tree.error(self.on_app_command_error)

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = _original(error)
        if isinstance(error, app_commands.TransformerError) and explain(original) is None:
            kind = error.type.name.lower()
            await tell(interaction, f"“{error.value}” is not a valid {kind} for this option")
        elif isinstance(error, app_commands.CommandOnCooldown):
            await tell(interaction, f"slow down: try again in {error.retry_after:.0f} s")
        elif isinstance(error, app_commands.CheckFailure):
            await tell(interaction, "you cannot use this command here")
        else:
            name = interaction.command.name if interaction.command else "?"
            await tell_error(interaction, original, action=f"command {name}")


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Errors(bot))
