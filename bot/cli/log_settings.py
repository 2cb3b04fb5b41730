"""The settings' part in the log, for the commands that serve (``run``, ``api``): their level (``-v``
wins), whether HTTP requests are logged, and the bot token to mask."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import logs

if TYPE_CHECKING:
    from bot.app.settings import Settings


def apply(settings: Settings, *, verbose: bool) -> None:
    token = settings.discord_token.get_secret_value() if settings.discord_token is not None else ""
    level = logging.DEBUG if verbose else settings.log_level
    logs.tune(level, http=settings.log_http, secrets=[token] if token else [])
