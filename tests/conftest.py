"""Shared fixtures: one tiny random-weight model bundle per test session, built offline."""

from __future__ import annotations

import pytest

from bot.engine.family import Family
from bot.tiny import TinyBundle, build_tiny_bundle


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    """Build once (well under a second): every test then loads real files through real loaders."""
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_sdxl_bundle(tmp_path_factory: pytest.TempPathFactory) -> TinyBundle:
    """The same bundle in the SDXL family: two text encoders, SDXL-shaped adapters."""
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny-sdxl"), family=Family.SDXL)


from tests.fakediscord.fixtures import fake_discord, fake_discord_options  # noqa: E402, F401
