"""Fixtures for the Discord front-end tests: a data folder and control over the engine's pace."""

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
    """Every bot in the test runs its jobs through this control; the gate is always opened at the end."""
    control = EngineControl()
    control.install(monkeypatch)
    yield control
    control.fail_with.clear()
    control.release()
