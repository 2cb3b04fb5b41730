"""The settings' part in the log, for the commands that serve (``run``, ``api``): their level (``-v``
wins), whether HTTP requests are logged, and the secrets to mask (the bot token, the metrics key)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot import logs

if TYPE_CHECKING:
    from bot.app.settings import Settings


def apply(settings: Settings, *, verbose: bool) -> None:
    level = logging.DEBUG if verbose else settings.log_level
    logs.tune(level, http=settings.log_http, secrets=secrets(settings))


def secrets(settings: Settings) -> list[str]:
    """Every secret setting's value (the bot token, the metrics key, any added later): masked in the
    log whatever shape it has."""
    from pydantic import SecretStr

    values = (getattr(settings, name) for name in type(settings).model_fields)
    return [v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()]
