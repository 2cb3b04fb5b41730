"""The discord.py client: loads the cogs, syncs the slash commands, starts the queue."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from bot.services import Services
from bot.settings import Settings

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.errors",
    "cogs.generate",
    "cogs.describe",
    "cogs.queue",
    "cogs.delivery",
    "cogs.buttons",
    "cogs.characters",
    "cogs.apikeys",
)


class LikenessBot(commands.Bot):
    def __init__(self, services: Services, **options: object) -> None:
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
            **options,
        )  # type: ignore[arg-type]
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


async def serve(settings: Settings, **bot_options: object) -> None:
    """Open everything, load the models (missing weights stop start-up here), then connect; with
    ``LIKENESS_API_PORT`` set, the HTTP API serves on the same loop, queue and worker."""
    services = await Services.open(settings)
    try:
        await services.load_models()
        bot = LikenessBot(services, **bot_options)
        if settings.api_port is None:
            await bot.serve()
            return
        from bot.api.app import Api  # FastAPI is imported only when the API is on

        api = Api(services)
        await api.start()
        api_task = asyncio.create_task(api.serve(settings.api_host, settings.api_port))
        try:
            discord_task = asyncio.create_task(bot.serve())
            done, _ = await asyncio.wait({api_task, discord_task}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # the API could not listen, or Discord ended: say why
        finally:
            for task in (api_task, discord_task):
                task.cancel()
            await asyncio.gather(api_task, discord_task, return_exceptions=True)
            await api.stop()
    finally:
        await services.close()


def run_bot(settings: Settings) -> None:
    logging.getLogger().setLevel(settings.log_level)
    asyncio.run(serve(settings))
