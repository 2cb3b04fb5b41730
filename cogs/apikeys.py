"""``/apikey create|list|revoke``: HTTP API keys that act as you, answered privately."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.client import LikenessBot
from cogs.utils.replies import tell


class ApiKeyCommands(commands.GroupCog, group_name="apikey", group_description="Your HTTP API keys"):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="create", description="A new key for the HTTP API, acting as you")
    @app_commands.describe(
        name="A label to tell your keys apart",
        allow_nsfw="Let the key fetch images the NSFW check flagged (off: the API withholds them)",
    )
    async def create(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 0, 100] = "",
        allow_nsfw: bool = False,
    ) -> None:
        new = await self.bot.services.keys.create(interaction.user.id, name, allow_nsfw=allow_nsfw)
        base = self.bot.services.settings.api_base_url
        await tell(
            interaction,
            f"API key {new.row.id} (shown this once, keep it secret):\n`{new.key}`\n"
            f"Webhook signing secret: `{new.webhook_secret}`\n"
            f"Send it as `Authorization: Bearer KEY`; the API's docs are at {base}/docs",
        )

    @app_commands.command(name="list", description="Your HTTP API keys")
    async def listing(self, interaction: discord.Interaction) -> None:
        rows = await self.bot.services.keys.list(interaction.user.id)
        if not rows:
            await tell(interaction, "you have no API keys: /apikey create makes one")
            return
        lines = [
            f"{row.id}: `{row.prefix}…` {row.name or ''} — "
            + ("revoked" if row.revoked_at else "active")
            + (", NSFW allowed" if row.allow_nsfw else "")
            + (f", last used <t:{int(row.last_used_at)}:R>" if row.last_used_at else ", never used")
            for row in rows
        ]
        await tell(interaction, "Your API keys:\n" + "\n".join(lines))

    @app_commands.command(name="revoke", description="Revoke one of your HTTP API keys")
    @app_commands.describe(key="The key's number, from /apikey list")
    async def revoke(self, interaction: discord.Interaction, key: app_commands.Range[int, 1]) -> None:
        row = await self.bot.services.keys.revoke(key, user_id=interaction.user.id)
        await tell(interaction, f"API key {row.id} (`{row.prefix}…`) is revoked: it no longer works")

    @app_commands.command(name="nsfw", description="Allow one of your keys images flagged NSFW, or stop it")
    @app_commands.describe(key="The key's number, from /apikey list", allow="Whether it gets flagged images")
    async def nsfw(
        self, interaction: discord.Interaction, key: app_commands.Range[int, 1], allow: bool
    ) -> None:
        row = await self.bot.services.keys.set_allow_nsfw(key, allow, user_id=interaction.user.id)
        verdict = "now gets" if row.allow_nsfw else "no longer gets"
        await tell(interaction, f"API key {row.id} (`{row.prefix}…`) {verdict} images flagged NSFW")


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(ApiKeyCommands(bot))
