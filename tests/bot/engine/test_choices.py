"""The engine knows every choice that ``bot.choices`` offers users: each list is written once there,
and what each name means lives here in the engine."""

from __future__ import annotations

import pytest

from bot.choices import ASPECT_RATIOS, STYLE_NAMES, Structure
from bot.engine.family import CONTROLNETS, Family
from bot.engine.images import MAX_ASPECT, size_for_aspect
from bot.engine.styles import STYLES


def test_every_style_name_has_its_preset() -> None:
    assert tuple(STYLES) == STYLE_NAMES


@pytest.mark.parametrize("family", list(Family))
def test_every_aspect_ratio_has_a_size(family: Family) -> None:
    for aspect in ASPECT_RATIOS:
        width, height = size_for_aspect(aspect, 512, family)
        assert max(width, height) <= MAX_ASPECT * min(width, height)
        assert width % 8 == 0 and height % 8 == 0


@pytest.mark.parametrize("family", list(Family))
def test_every_structure_has_a_default_controlnet(family: Family) -> None:
    assert set(CONTROLNETS[family]) == set(Structure)
