"""The discord.py client: loads the cogs, syncs the slash commands, starts the queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord
from discord.ext import commands

from bot.services import Services
from bot.settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.errors", "cogs.generate", "cogs.queue", "cogs.delivery", "cogs.characters")


class LikenessBot(commands.Bot):
    def __init__(self, settings: Settings, services: Services, **options: object) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels for the token-expiry fallback; no privileged intents
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            # Nothing the bot sends pings anyone (user text such as "<@&role>" or "@everyone" can reach
            # a message); the one message meant to ping its owner allows exactly that user.
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )  # type: ignore[arg-type]
        self.settings = settings
        self.services = services

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except Exception:
                log.exception("failed to load extension %s", extension)
                raise
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("synced %d commands", len(synced))
        await self.services.queue.start()

    async def close(self) -> None:
        await self.services.queue.stop()
        await super().close()


async def serve(
    settings: Settings,
    *,
    services: Services | None = None,
    on_bot: Callable[[LikenessBot], Awaitable[None] | None] | None = None,
    **bot_options: object,
) -> None:
    """Open everything, load the model (missing weights stop start-up here), then connect."""
    assert settings.discord_token is not None
    own = services is None
    services = services or await Services.open(settings)
    try:
        await services.load_models()
        bot = LikenessBot(settings, services, **bot_options)
        if on_bot is not None:
            maybe = on_bot(bot)
            if asyncio.iscoroutine(maybe):
                await maybe
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())
    finally:
        if own:
            await services.close()


def run_bot(settings: Settings) -> None:
    logging.getLogger().setLevel(settings.log_level)
    asyncio.run(serve(settings))
