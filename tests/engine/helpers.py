"""Small image builders shared by engine tests: real pictures made in code, no binary fixtures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def gradient_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth colourful picture with some texture, so generations have something to keep."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x / max(width - 1, 1), y / max(height - 1, 1), (x + y) / (width + height)], axis=-1)
    rgb = rgb * 200 + rng.normal(0, 12, size=rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def save(image: Image.Image, path: Path, fmt: str = "PNG") -> Path:
    image.save(path, format=fmt)
    return path


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


def box_mask(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, box)
    return mask
