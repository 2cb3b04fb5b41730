"""A contact sheet of a character's references: numbered thumbnails, primary first, quality marks.

The numbers are the ones ``/character promote`` and ``prune`` take, so the picture is the index.
References can be large photos; each is decoded straight to thumbnail size (JPEG's DCT scaling via
``draft``) and dropped before the next, so a full sheet never holds a set of full-size decodes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

from bot.engine.images import ACCEPTED_FORMATS

THUMB = 160
PAD = 8
CAPTION = 34
COLUMNS = 4
GOOD, WARN, BAD = (46, 160, 67), (212, 160, 23), (200, 50, 50)


@dataclass(frozen=True, slots=True)
class SheetItem:
    image: bytes
    number: int
    primary: bool
    warnings: int  # quality warnings on this reference
    score: float | None  # similarity to the rest of the set
    outlier: bool


def render_contact_sheet(items: Sequence[SheetItem]) -> bytes:
    columns = min(COLUMNS, max(1, len(items)))
    rows = max(1, math.ceil(len(items) / columns))
    sheet = Image.new(
        "RGB", (columns * (THUMB + PAD) + PAD, rows * (THUMB + CAPTION + PAD) + PAD), (32, 34, 37)
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for i, item in enumerate(items):
        x = PAD + (i % columns) * (THUMB + PAD)
        y = PAD + (i // columns) * (THUMB + CAPTION + PAD)
        sheet.paste(_thumbnail(item.image), (x, y))
        colour = BAD if item.outlier else WARN if item.warnings else GOOD
        draw.rectangle((x, y, x + THUMB - 1, y + THUMB - 1), outline=colour, width=3)
        label = f"#{item.number}" + (" primary" if item.primary else "")
        if item.score is not None:
            label += f"  {item.score:.2f}"
        draw.text((x + 2, y + THUMB + 4), label, fill=(235, 235, 235), font=font)
        marks = "outlier" if item.outlier else (f"{item.warnings} warning(s)" if item.warnings else "ok")
        draw.text((x + 2, y + THUMB + 19), marks, fill=colour, font=font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def _thumbnail(data: bytes) -> Image.Image:
    """``THUMB``×``THUMB`` RGB, letterboxed; shrunk while (JPEG) or after decoding, then made upright."""
    with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
        image.thumbnail((THUMB, THUMB))  # calls draft(): a JPEG decodes at 1/2 … 1/8 scale
        upright = ImageOps.exif_transpose(image)
        return ImageOps.pad(upright.convert("RGB"), (THUMB, THUMB), color=(20, 20, 20))
