"""Fixtures for the HTTP API tests: a data folder and the engine's pace (shared with the cog tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cogs.harness import EngineControl


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def engine_control(monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineControl]:
    control = EngineControl()
    control.install(monkeypatch)
    yield control
    control.fail_with.clear()
    control.release()
