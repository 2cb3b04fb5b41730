"""Canny structure maps: edges where the picture has them, nothing where it is flat."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from bot.engine.structure import canny_map


def test_canny_finds_a_square_and_nothing_on_a_flat_image() -> None:
    picture = Image.new("RGB", (96, 64), "black")
    ImageDraw.Draw(picture).rectangle((24, 16, 72, 48), fill="white")
    edges = np.asarray(canny_map(picture))
    assert edges.shape == (64, 96, 3) and set(np.unique(edges)) <= {0, 255}
    assert edges[14:18, 40].any() and edges[32, 22:26].any()  # along the square's top and left sides
    assert not edges[32, 48].any() and not edges[5, 5].any()  # inside it and outside it: flat
    assert not np.asarray(canny_map(Image.new("RGB", (64, 64), "gray"))).any()
