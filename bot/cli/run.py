"""``run``: start the Discord bot (needs DISCORD_TOKEN)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING

from bot.errors import SettingsInvalid

if TYPE_CHECKING:
    from bot.app.settings import Settings

TOKEN_HELP = (
    "DISCORD_TOKEN is not set: create an application at https://discord.com/developers/applications, "
    "add a bot, copy its token into .env as DISCORD_TOKEN=... and invite it with the "
    "applications.commands and bot scopes"
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the Discord bot",
        description="Connect to Discord, sync the slash commands and serve generations from the GPU worker.",
    )
    parser.set_defaults(handler=handle, log_level=logging.INFO)


def handle(args: argparse.Namespace) -> int:
    from bot.app.settings import load_settings
    from bot.cli import log_settings

    settings = load_settings(args.env_file)
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise SettingsInvalid(TOKEN_HELP)
    log_settings.apply(settings, verbose=args.verbose)
    run_bot(settings)
    return 0


async def serve(settings: Settings, **bot_options: object) -> None:
    """Open everything, load the models (missing weights stop start-up here), then connect; with
    ``LIKENESS_API_PORT`` set, the HTTP API serves on the same loop, queue and worker (``GET /metrics``
    included), with ``LIKENESS_METRICS_PORT`` the metrics have a port of their own."""
    from bot.app.client import make_bot  # discord.py, and the models, only when the bot runs
    from bot.app.services import Services

    services = await Services.open(settings)
    try:
        services.serve_metrics()  # LIKENESS_METRICS_PORT: metrics without the API too
        await services.load_models()
        bot = make_bot(services, **bot_options)
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
    asyncio.run(serve(settings))
