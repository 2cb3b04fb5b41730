"""``run``: start the Discord bot (needs DISCORD_TOKEN)."""

from __future__ import annotations

import argparse
import logging

from bot.errors import SettingsInvalid

TOKEN_HELP = (
    "DISCORD_TOKEN is not set: create an application at https://discord.com/developers/applications, "
    "add a bot, copy its token into .env as DISCORD_TOKEN=... and invite it with the "
    "applications.commands and bot scopes"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run",
        help="run the Discord bot",
        description="Connect to Discord, sync the slash commands and serve generations from the GPU worker.",
    )
    parser.set_defaults(handler=handle, log_level=logging.INFO)


def handle(args: argparse.Namespace) -> int:
    from bot.settings import load_settings

    settings = load_settings(args.env_file)
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise SettingsInvalid(TOKEN_HELP)
    from bot.client import run_bot

    run_bot(settings)
    return 0
