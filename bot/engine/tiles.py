"""Overlapping tiles of a picture, and their blend back into one: what keeps an upscale's memory
bounded at any size (the model sees one tile at a time) without seams where tiles meet.

Pure numpy and PIL: the super-resolution pass and the detail pass both cut with ``tile_starts`` and
put tiles back with ``Blender``, whose weights ramp linearly across each overlap.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of ``tile`` px start along a side of ``length`` px, neighbours sharing at least
    ``overlap`` px; the last tile ends at the edge (one tile when it covers the whole side)."""
    if tile >= length:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap {overlap} must be below the tile size {tile}")
    stride = tile - overlap
    count = -(-(length - tile) // stride) + 1  # ceil: enough tiles to reach the far edge
    step = (length - tile) / (count - 1)
    return [round(k * step) for k in range(count)]


def tile_boxes(size: tuple[int, int], tile: int, overlap: int) -> Iterator[Box]:
    """Row by row, the boxes of overlapping ``tile``×``tile`` tiles over a ``size`` picture (smaller
    where the picture is)."""
    width, height = size
    for top in tile_starts(height, tile, overlap):
        for left in tile_starts(width, tile, overlap):
            yield left, top, min(left + tile, width), min(top + tile, height)


def _ramp(length: int, before: int, after: int) -> np.ndarray:
    """1 inside, rising over ``before`` px at the start and falling over ``after`` px at the end."""
    ramp = np.ones(length, dtype=np.float32)
    if before:
        ramp[:before] = np.linspace(1 / (before + 1), 1, before, endpoint=False, dtype=np.float32)
    if after:
        ramp[length - after :] = np.linspace(1, 1 / (after + 1), after, endpoint=False, dtype=np.float32)
    return ramp


class Blender:
    """Tiles written into one picture, each weighted down towards the edges it shares with a
    neighbour, so a seam fades from one tile into the next (an edge of the picture keeps full weight)."""

    def __init__(self, size: tuple[int, int], feather: int) -> None:
        self.size = size
        self.feather = feather
        self._sum = np.zeros((size[1], size[0], 3), dtype=np.float32)
        self._weight = np.zeros((size[1], size[0], 1), dtype=np.float32)

    def add(self, tile: Image.Image, box: Box) -> None:
        left, top, right, bottom = box
        width, height = self.size
        f = self.feather
        x = _ramp(right - left, f if left > 0 else 0, f if right < width else 0)
        y = _ramp(bottom - top, f if top > 0 else 0, f if bottom < height else 0)
        weight = (y[:, None] * x[None, :])[..., None]
        pixels = np.asarray(tile.convert("RGB"), dtype=np.float32)
        self._sum[top:bottom, left:right] += pixels * weight
        self._weight[top:bottom, left:right] += weight

    def image(self) -> Image.Image:
        blended = self._sum / np.maximum(self._weight, 1e-6)
        return Image.fromarray(np.clip(np.rint(blended), 0, 255).astype(np.uint8), "RGB")
