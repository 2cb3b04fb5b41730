"""A session-wide engine over the tiny bundle: weights load once, as in production."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.app.settings import load_settings
from bot.engine.engine import Engine


@pytest.fixture(scope="session")
def engine(tiny_bundle) -> Iterator[Engine]:
    settings = load_settings(tiny_bundle.env_file)
    yield Engine.load(settings.engine_config)
