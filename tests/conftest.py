"""Shared fixtures: one tiny random-weight model bundle per test session, built offline; a data
folder and control over the engine's pace for the tests that run the bot (Discord and the API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine.family import Family
from bot.tiny import TinyBundle, build_tiny_bundle
from tests.cogs.harness import EngineControl


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    """Build once (well under a second): every test then loads real files through real loaders."""
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_sdxl_bundle(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    """The same bundle in the SDXL family: two text encoders, SDXL-shaped adapters."""
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny-sdxl"), family=Family.SDXL)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def engine_control(monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineControl]:
    """Every bot in the test runs its jobs through this control; the gate is always opened at the end."""
    control = EngineControl()
    control.install(monkeypatch)
    yield control
    control.fail_with.clear()
    control.release()


from tests.fakediscord.fixtures import fake_discord, fake_discord_options  # noqa: E402, F401
