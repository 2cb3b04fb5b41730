"""The discord.py client: loads the cogs, syncs the slash commands, starts the queue."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.services import Services
from bot.errors import Banned

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.errors",
    "cogs.generate",
    "cogs.describe",
    "cogs.upscale",
    "cogs.queue",
    "cogs.delivery",
    "cogs.buttons",
    "cogs.characters",
    "cogs.apikeys",
    "cogs.likeness",
    "cogs.guild_log",
)


class LikenessTree(app_commands.CommandTree["LikenessBot"]):
    """Refuses every command of a member banned from the bot (in this server, or everywhere) with
    the ban's reason, privately, before the command runs; the buttons check the same ban."""

    async def interaction_check(self, interaction: discord.Interaction[LikenessBot], /) -> bool:
        try:
            await self.client.services.guilds.check_member(interaction.user.id, interaction.guild_id)
        except Banned as ban:
            if interaction.type is discord.InteractionType.application_command:
                await interaction.response.send_message(str(ban), ephemeral=True)
            return False
        return True


class LikenessBot(commands.Bot):
    def __init__(self, services: Services, **options: Any) -> None:
        # ``options`` are commands.Bot's own keyword arguments (discord.py types each one), passed on.
        # This bot never joins voice: discord.py's notices about missing voice libraries do not apply.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True  # channels for the token-expiry fallback; no privileged intents
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            # Nothing the bot sends pings anyone (user text such as "<@&role>" or "@everyone" can reach
            # a message); the one message meant to ping its owner allows exactly that user.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=LikenessTree,
            **options,
        )
        self.services = services

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except Exception:
                log.exception("failed to load extension %s", extension)
                raise
        guild_id = self.services.settings.guild_id
        if guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d commands", len(synced))
        await self.services.queue.start()

    async def serve(self) -> None:
        """Connect with the configured token and run until the bot is closed."""
        token = self.services.settings.discord_token
        assert token is not None, "DISCORD_TOKEN is checked by the run command"
        async with self:
            await self.start(token.get_secret_value())

    async def close(self) -> None:
        await self.services.queue.stop()
        await super().close()


class ShardedLikenessBot(LikenessBot, commands.AutoShardedBot):
    """The same bot over several gateway connections (``LIKENESS_SHARDS``): discord.py's
    auto-sharded client runs them in one process and routes each event to its guild's shard."""


def make_bot(services: Services, **options: Any) -> LikenessBot:
    """The bot ``LIKENESS_SHARDS`` asks for: one connection, N shards, or as many as Discord
    recommends (``auto``: discord.py asks /gateway/bot)."""
    shards = services.settings.shards
    if shards == 1:
        return LikenessBot(services, **options)
    count = None if shards == "auto" else shards
    log.info("connecting with %s shards", "Discord's recommended number of" if count is None else count)
    return ShardedLikenessBot(services, shard_count=count, **options)
