"""What an upload is stored as: the decoded, upright picture re-encoded clean, and shapes refused early."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bot.engine.images import NOT_A_PICTURE, fit_to_budget, load_image, load_mask
from bot.engine.uploads import check_image, check_mask
from bot.errors import BadImage
from tests.bot.engine.helpers import gradient_image
from tests.bot.engine.image_files import REFUSED, exif_with, fits_file, psd_header, save_any

TRAILER = b"--appended: account=alice; token=SECRET--"


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_photo_is_stored_upright_without_exif_gps_or_trailing_bytes() -> None:
    # A 96×64 landscape sensor image that the camera says to turn 90° (orientation 6): upright it is 64×96.
    sensor = gradient_image(96, 64)
    data = encode(sensor, "JPEG", quality=95, exif=exif_with(6, gps=True)) + TRAILER
    assert opened(data).getexif().get_ifd(0x8825)  # the upload really carries a GPS position

    stored = check_image(data)

    assert stored.ext == "jpg" and stored.size == (64, 96)
    image = opened(stored.data)
    assert image.format == "JPEG" and image.size == (64, 96)
    assert not image.getexif() and "exif" not in image.info
    assert b"Exif" not in stored.data and b"SECRET" not in stored.data
    assert stored.data.endswith(b"\xff\xd9")  # nothing after the JPEG's end marker
    # The engine reads the same upright picture from the stored copy as from the upload.
    before, after = np.asarray(load_image(data), np.int16), np.asarray(load_image(stored.data), np.int16)
    assert after.shape == (96, 64, 3)
    assert np.abs(before - after).mean() < 2


def test_multi_picture_jpeg_is_stored_as_one_plain_jpeg() -> None:
    first, second = gradient_image(80, 80, seed=1), gradient_image(80, 80, seed=2)
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert opened(data).format == "MPO"
    stored = check_image(data)
    image = opened(stored.data)
    assert (image.format, stored.ext, getattr(image, "n_frames", 1)) == ("JPEG", "jpg", 1)


def test_png_with_alpha_stays_png_with_alpha_and_loses_its_text() -> None:
    from PIL.PngImagePlugin import PngInfo

    rgba = gradient_image(80, 72).convert("RGBA")
    alpha = np.zeros((72, 80), np.uint8)
    alpha[:, 40:] = 255
    alpha[:, 30:40] = 128
    rgba.putalpha(Image.fromarray(alpha, "L"))
    text = PngInfo()
    text.add_text("Comment", "shot at home, 52.37N 4.89E")
    data = encode(rgba, "PNG", pnginfo=text) + TRAILER

    stored = check_image(data)

    image = opened(stored.data)
    assert (image.format, image.mode, stored.ext) == ("PNG", "RGBA", "png")
    assert np.array_equal(np.asarray(image), np.asarray(rgba))  # lossless, transparency kept
    assert "Comment" not in image.info and b"52.37N" not in stored.data and b"SECRET" not in stored.data


@pytest.mark.parametrize(
    ("fmt", "params", "kept_as"),
    [
        ("GIF", {}, "PNG"),  # palette art: lossless
        ("WEBP", {"lossless": True}, "PNG"),
        ("WEBP", {"quality": 90}, "JPEG"),  # a lossy WebP is a photo
        ("PNG", {}, "PNG"),
    ],
)
def test_lossless_sources_stay_lossless_and_photos_become_jpeg(
    fmt: str, params: dict[str, object], kept_as: str
) -> None:
    data = encode(gradient_image(80, 80), fmt, **params)
    stored = check_image(data)
    assert opened(stored.data).format == kept_as
    if kept_as == "PNG":  # exactly the picture the upload decodes to
        assert np.array_equal(np.asarray(load_image(stored.data)), np.asarray(load_image(data)))


def test_mask_with_alpha_strokes_gives_the_same_mask_after_storing() -> None:
    # Strokes painted on a transparent layer over a (hidden) photo, as some editors export them.
    layer = np.zeros((64, 96, 4), np.uint8)
    layer[..., :3] = np.asarray(gradient_image(96, 64))
    layer[16:48, 20:60, 3] = 255
    layer[30:34, 60:90, 3] = 90  # a soft brush edge
    data = encode(Image.fromarray(layer, "RGBA"), "PNG") + TRAILER

    stored = check_mask(data, (192, 128))

    image = opened(stored.data)
    assert (image.format, image.mode, stored.ext) == ("PNG", "RGBA", "png")
    assert b"SECRET" not in stored.data
    assert np.array_equal(np.asarray(load_mask(stored.data)), np.asarray(load_mask(data)))
    assert np.asarray(load_mask(stored.data))[32, 40] == 255 and np.asarray(load_mask(stored.data))[5, 5] == 0


def test_photo_mask_is_stored_lossless() -> None:
    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (30, 10, 70, 50))
    data = encode(mask, "JPEG", quality=90, exif=exif_with(3))
    stored = check_mask(data, (96, 64))
    assert opened(stored.data).format == "PNG" and not opened(stored.data).getexif()
    assert np.array_equal(np.asarray(load_mask(stored.data)), np.asarray(load_mask(data)))


@pytest.mark.parametrize(("size", "shape"), [((320, 64), "5.0:1 wide"), ((64, 300), "4.7:1 tall")])
@pytest.mark.parametrize("what", ["image", "reference"])
def test_shapes_beyond_four_to_one_are_refused_at_upload(
    size: tuple[int, int], shape: str, what: str
) -> None:
    data = encode(gradient_image(*size), "PNG")
    with pytest.raises(BadImage) as engine_refusal:
        fit_to_budget(load_image(data), 512)  # what the job would have said after waiting in the queue
    with pytest.raises(BadImage) as upload_refusal:
        check_image(data, what)
    assert str(upload_refusal.value) == str(engine_refusal.value).replace("the image", f"the {what}", 1)
    assert f"{size[0]}×{size[1]}, which is {shape}; the limit is 4:1" in str(upload_refusal.value)


def test_four_to_one_exactly_is_accepted() -> None:
    assert check_image(encode(gradient_image(256, 64), "PNG")).size == (256, 64)


def refused_format_files() -> list[tuple[str, bytes]]:
    files = [(fmt, save_any(gradient_image(80, 80), fmt)) for fmt in REFUSED if fmt not in ("XBM", "MSP")]
    files += [(fmt, save_any(gradient_image(80, 80).convert("1"), fmt)) for fmt in ("XBM", "MSP")]
    return [*files, ("PSD", psd_header(80, 80)), ("FITS", fits_file(80, 80))]


@pytest.mark.parametrize(
    ("fmt", "data"), refused_format_files(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_other_formats_are_refused_everywhere_like_unknown_data(fmt: str, data: bytes) -> None:
    assert Image.open(io.BytesIO(data)).format == fmt  # a valid file Pillow itself would open
    calls = {
        "image": lambda: check_image(data, "image"),
        "reference": lambda: check_image(data, "reference"),
        "mask": lambda: check_mask(data, (80, 80)),
        "engine image": lambda: load_image(data),
        "engine mask": lambda: load_mask(data),
    }
    for what, call in calls.items():
        with pytest.raises(BadImage) as refusal:
            call()
        assert str(refusal.value).endswith(f"is not a picture the bot can read; {NOT_A_PICTURE}"), what


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_the_formats_the_message_names_are_accepted_everywhere(fmt: str) -> None:
    assert NOT_A_PICTURE == "send a PNG, JPEG, WebP or GIF image"
    data = encode(gradient_image(80, 80), fmt)
    assert check_image(data, "image").size == check_image(data, "reference").size == (80, 80)
    assert check_mask(data, (80, 80)).size == load_mask(data).size == load_image(data).size == (80, 80)
