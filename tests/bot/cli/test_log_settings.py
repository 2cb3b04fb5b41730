"""What ``run`` and ``api`` take from the settings for the log: the level (``-v`` wins over
LIKENESS_LOG_LEVEL), LIKENESS_LOG_HTTP, and the bot token to mask whatever its shape."""

from __future__ import annotations

import io
import logging

import pytest

from bot import logs
from bot.app.settings import load_settings
from bot.cli import log_settings
from tests.bot.logging_state import fresh_logging


@pytest.mark.parametrize(
    ("level", "verbose", "expected"), [("WARNING", False, logging.WARNING), ("ERROR", True, logging.DEBUG)]
)
def test_the_level_is_the_settings_unless_verbose(level: str, verbose: bool, expected: int) -> None:
    with fresh_logging():
        logs.configure(logging.INFO, stream=io.StringIO())
        log_settings.apply(load_settings(None, log_level=level), verbose=verbose)
        assert logging.getLogger().level == expected
        assert logs.current() == logs.LogSetup(expected, http=False)


def test_http_logging_and_the_token_come_from_the_settings() -> None:
    with fresh_logging():
        stream = io.StringIO()
        logs.configure(logging.INFO, stream=stream)
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
        log_settings.apply(load_settings(None, discord_token="plain-bot-token", log_http=True), verbose=False)
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.INFO
        logging.getLogger("discord.http").info("login with plain-bot-token")
        assert stream.getvalue().endswith("discord.http: login with ***\n")


def test_every_secret_setting_is_masked_whatever_its_shape() -> None:
    """The metrics key too: any SecretStr setting, so one added later is masked without a change here."""
    with fresh_logging():
        stream = io.StringIO()
        logs.configure(logging.INFO, stream=stream)
        settings = load_settings(None, discord_token="plain-bot-token", metrics_key="plain-metrics-key-42")
        log_settings.apply(settings, verbose=False)
        logging.getLogger("uvicorn.error").info("saw plain-metrics-key-42 and plain-bot-token")
        assert stream.getvalue().endswith("uvicorn.error: saw *** and ***\n")
        assert set(log_settings.secrets(settings)) == {"plain-bot-token", "plain-metrics-key-42"}
