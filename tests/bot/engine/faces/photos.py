"""Reference photos for the face tests, made in code from the two photos the insightface wheel ships.

`t1.jpg` (1280×886) shows six people; `Tom_Hanks_54745.png` is a 112 px portrait. Crops, scales,
mirrors, blur and darkening of these give every case the rules need, with real faces.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from bot.engine.faces.types import Face
from bot.tiny import draw_face_marker


def insightface_image(name: str) -> Path:
    path = Path(str(resources.files("insightface") / "data" / "images" / name))
    assert path.is_file(), f"the insightface wheel should ship {name}"
    return path


def open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def crop_face(
    photo: Image.Image, face: Face, margin: float = 1.0, scale: float = 2.0, mirror: bool = False
) -> Image.Image:
    """The face's box grown by `margin` box sizes on every side, scaled by `scale`, optionally mirrored."""
    x0, y0, x1, y1 = face.box
    w, h = x1 - x0, y1 - y0
    crop = photo.crop(
        (round(x0 - margin * w), round(y0 - margin * h), round(x1 + margin * w), round(y1 + margin * h))
    )
    crop = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.Resampling.LANCZOS)
    return ImageOps.mirror(crop) if mirror else crop


def blurred(image: Image.Image, radius: float) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def darkened(image: Image.Image, factor: float) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


def placed_small(face_image: Image.Image, canvas_side: int) -> Image.Image:
    """`face_image` pasted in the middle of a plain canvas, so the face is a small part of the picture."""
    canvas = Image.new("RGB", (canvas_side, canvas_side), (92, 80, 70))
    canvas.paste(face_image, ((canvas_side - face_image.width) // 2, (canvas_side - face_image.height) // 2))
    return canvas


def flat_image(size: int = 256, colour: tuple[int, int, int] = (128, 128, 128)) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def marker_image(
    seed: int,
    size: int = 256,
    box: tuple[int, int, int, int] = (64, 64, 160, 160),
    background: tuple[int, int, int] = (120, 130, 140),
) -> Image.Image:
    """A synthetic face of person `seed` for the tiny insightface pack (see `bot.tiny.face_pack`)."""
    return draw_face_marker(Image.new("RGB", (size, size), background), box, seed)


def noise_image(size: int = 256, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")
