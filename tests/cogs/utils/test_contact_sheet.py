"""The contact sheet decodes each reference at thumbnail size, not at the size it was taken."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from cogs.utils.contact_sheet import PAD, THUMB, SheetItem, render_contact_sheet
from tests.bot.engine.image_files import exif_with


def photo(width: int, height: int, orientation: int = 1) -> bytes:
    """A large, mostly flat JPEG (cheap to make): blue on the left half, red on the right."""
    image = Image.new("RGB", (width, height), (220, 30, 30))
    image.paste((30, 30, 220), (0, 0, width // 2, height))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80, exif=exif_with(orientation))
    return buffer.getvalue()


def test_large_photos_are_decoded_at_thumbnail_size(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> object:
        result = real_load(self)
        decoded.append(self.size)
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    items = [SheetItem(photo(2400, 1600), n, n == 1, 0, None, False) for n in range(1, 21)]

    sheet = Image.open(io.BytesIO(render_contact_sheet(items)))

    assert len(decoded) >= 20
    # JPEG's DCT scaling: each 2400×1600 photo is read at 1/4 (600×400), never at full size.
    assert max(max(size) for size in decoded) <= 4 * THUMB
    assert sheet.size == (4 * (THUMB + PAD) + PAD, 5 * (THUMB + 34 + PAD) + PAD)


def test_thumbnails_are_turned_upright() -> None:
    # Sensor image: blue left, red right; orientation 6 turns it 90° clockwise, so blue ends on top.
    sheet = np.asarray(
        Image.open(
            io.BytesIO(render_contact_sheet([SheetItem(photo(1200, 800, 6), 1, True, 0, None, False)]))
        )
    )
    top, bottom = sheet[PAD + 40, PAD + THUMB // 2], sheet[PAD + THUMB - 40, PAD + THUMB // 2]
    assert top[2] > 180 and top[0] < 80
    assert bottom[0] > 180 and bottom[2] < 80
