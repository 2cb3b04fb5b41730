"""Loading and validating uploaded images; every fixture is generated in code."""

from __future__ import annotations

import io
import math
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from bot.engine.images import (
    ASPECT_RATIOS,
    MAX_PIXELS,
    MIN_SIDE,
    budget_size,
    fit_to_budget,
    load_image,
    load_mask,
    open_upload,
    size_for_aspect,
)
from bot.errors import BadImage, InvalidRequest


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width``×``height`` (valid CRC, almost no pixel data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if anything tries to decode pixels."""

    def forbidden(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)


# --- not an image / damaged ----------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"hello, this is a text file\n" * 10, b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" * 5],
    ids=["text", "pdf"],
)
def test_not_a_picture(data: bytes) -> None:
    with pytest.raises(BadImage, match=r"^the image is not a picture the bot can read; send a PNG, JPEG"):
        load_image(data)


def test_empty_bytes() -> None:
    with pytest.raises(BadImage, match="the reference is an empty file"):
        load_image(b"", what="reference")


def test_truncated_png() -> None:
    data = encode(noise((200, 200)))
    with pytest.raises(BadImage, match="the image file is truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_truncated_jpeg() -> None:
    data = encode(noise((200, 200)), "JPEG", quality=90)
    with pytest.raises(BadImage, match="the image file is truncated or corrupt"):
        load_image(data[: len(data) * 2 // 3])


def test_corrupt_png_data() -> None:
    data = bytearray(encode(noise((200, 200))))
    middle = len(data) // 2
    data[middle : middle + 200] = bytes(200)  # zero a run inside the compressed IDAT stream
    with pytest.raises(BadImage, match="truncated or corrupt"):
        load_image(bytes(data))


def test_truncated_header() -> None:
    data = encode(noise((200, 200)))
    with pytest.raises(BadImage, match="the mask "):
        load_mask(data[:30])


def test_intact_versions_of_damaged_fixtures_load() -> None:
    # Guards the tests above: the same encoders produce loadable files when not damaged.
    assert load_image(encode(noise((200, 200)))).size == (200, 200)
    assert load_image(encode(noise((200, 200)), "JPEG", quality=90)).size == (200, 200)


# --- size limits -----------------------------------------------------------------------


def test_over_limit_rejected_from_header(no_decoding: None) -> None:
    with pytest.raises(BadImage) as err:
        load_image(png_claiming(10_000, 5_000))
    assert str(err.value) == (
        "the image is 10000×5000 (50 megapixels); the limit is 40 megapixels, "
        "so scale it down and send it again"
    )


@pytest.mark.parametrize(
    ("width", "height", "shown"),
    [(10_000, 10_000, "100 megapixels"), (20_000, 20_000, "400 megapixels")],
    ids=["pillow-warning-range", "pillow-error-range"],
)
def test_decompression_bomb_is_a_clear_message(
    no_decoding: None, recwarn: pytest.WarningsRecorder, width: int, height: int, shown: str
) -> None:
    with pytest.raises(BadImage) as err:
        load_image(png_claiming(width, height))
    message = str(err.value)
    assert message.startswith("the image is ")
    assert shown in message
    assert "the limit is 40 megapixels" in message
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_bomb_check_leaves_pillow_globals_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(BadImage):
        load_image(png_claiming(20_000, 20_000))
    assert before == Image.MAX_IMAGE_PIXELS
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_exactly_at_limit_passes_header_check() -> None:
    # 8000×5000 is exactly 40 MP: it must reach decoding (the crafted file then fails as truncated).
    assert MAX_PIXELS == 8000 * 5000
    with pytest.raises(BadImage, match="truncated or corrupt"):
        load_image(png_claiming(8000, 5000))


def test_too_small() -> None:
    with pytest.raises(BadImage) as err:
        load_image(encode(Image.new("RGB", (63, 100))))
    assert str(err.value) == (
        "the image is only 63×100 pixels; each side must be at least 64 pixels, so send a larger picture"
    )
    assert load_image(encode(Image.new("RGB", (MIN_SIDE, MIN_SIDE)))).size == (64, 64)


def test_mask_minimum_is_eight() -> None:
    assert load_mask(encode(Image.new("L", (8, 20)))).size == (8, 20)
    with pytest.raises(BadImage, match=r"the mask is only 7×20 pixels; each side must be at least 8"):
        load_mask(encode(Image.new("L", (7, 20))))


# --- orientation, modes, frames ----------------------------------------------------------


def test_exif_rotation_applied() -> None:
    stored = Image.new("RGB", (120, 80), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))  # marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    image = load_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert image.size == (80, 120)
    r, g, b = image.getpixel((70, 10))  # the marker is now top-right
    assert r > 200 and g < 60 and b < 60
    r, g, b = image.getpixel((10, 10))
    assert b > 200 and r < 60


def test_rgba_composited_on_white() -> None:
    rgba = Image.new("RGBA", (80, 80), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 128), (0, 0, 40, 80))
    image = load_image(encode(rgba))
    assert image.mode == "RGB"
    assert image.getpixel((60, 40)) == (255, 255, 255)
    r, g, b = image.getpixel((10, 40))
    assert r == 255 and 125 <= g <= 129 and g == b


def test_la_and_palette_transparency_on_white() -> None:
    la = Image.new("LA", (80, 80), (0, 0))
    assert load_image(encode(la)).getpixel((5, 5)) == (255, 255, 255)

    pal = Image.new("P", (80, 80), 1)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.paste(0, (0, 0, 40, 80))
    image = load_image(encode(pal, transparency=0))
    assert image.getpixel((5, 5)) == (255, 255, 255)
    assert image.getpixel((60, 5)) == (0, 255, 0)


@pytest.mark.parametrize(("level", "expected"), [(32768, 128), (65535, 255), (1028, 4), (0, 0)])
def test_sixteen_bit_png_scaled_not_clipped(level: int, expected: int) -> None:
    grey16 = Image.fromarray(np.full((80, 80), level, dtype=np.uint16))
    data = encode(grey16)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")  # really a 16-bit file
    assert load_image(data).getpixel((3, 3)) == (expected, expected, expected)


def test_cmyk_jpeg() -> None:
    cmyk = Image.new("CMYK", (80, 80), (0, 255, 255, 0))  # pure red
    data = encode(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    r, g, b = load_image(data).getpixel((40, 40))
    assert r > 240 and g < 15 and b < 15


@pytest.mark.parametrize("mode", ["1", "L", "P"])
def test_simple_modes(mode: str) -> None:
    source = Image.new("RGB", (80, 80), (0, 0, 0))
    source.paste((255, 255, 255), (40, 0, 80, 80))
    image = load_image(encode(source.convert(mode)))
    assert image.mode == "RGB"
    assert image.getpixel((10, 10)) == (0, 0, 0)
    assert image.getpixel((70, 10)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [("GIF", {}), ("WEBP", {"lossless": True}), ("PNG", {})],
    ids=["gif", "webp", "apng"],
)
def test_animated_first_frame(fmt: str, params: dict[str, object]) -> None:
    frames = [Image.new("RGB", (80, 80), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **params)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3
    assert load_image(data).getpixel((40, 40)) == (255, 0, 0)


def test_path_source(tmp_path: Path) -> None:
    path = tmp_path / "pic.png"
    path.write_bytes(encode(Image.new("RGB", (100, 70), (1, 2, 3))))
    image = load_image(path)
    assert image.size == (100, 70) and image.getpixel((0, 0)) == (1, 2, 3)
    with pytest.raises(BadImage, match=r"the image file missing\.png cannot be read"):
        load_image(tmp_path / "missing.png")


# --- masks ---------------------------------------------------------------------------------


def test_mask_from_luminance() -> None:
    rgb = Image.new("RGB", (40, 40), (0, 0, 0))
    rgb.paste((255, 255, 255), (0, 0, 20, 40))
    mask = load_mask(encode(rgb, "JPEG", quality=95))
    assert mask.mode == "L"
    assert mask.getpixel((5, 5)) > 240 and mask.getpixel((35, 5)) < 15


def test_mask_from_alpha() -> None:
    strokes = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    strokes.paste((0, 0, 0, 255), (10, 10, 20, 20))  # black strokes on a transparent layer
    mask = load_mask(encode(strokes))
    assert mask.mode == "L"
    assert mask.getpixel((15, 15)) == 255 and mask.getpixel((30, 30)) == 0


def test_opaque_alpha_falls_back_to_luminance() -> None:
    rgba = Image.new("RGBA", (40, 40), (0, 0, 0, 255))
    rgba.paste((255, 255, 255, 255), (0, 0, 20, 40))
    mask = load_mask(encode(rgba))
    assert mask.getpixel((5, 5)) == 255 and mask.getpixel((35, 5)) == 0


def test_sixteen_bit_and_one_bit_masks() -> None:
    grey16 = Image.fromarray(np.full((16, 16), 65535, dtype=np.uint16))
    assert load_mask(encode(grey16)).getpixel((0, 0)) == 255
    assert load_mask(encode(Image.new("1", (16, 16), 1))).getpixel((0, 0)) == 255


# --- sizing --------------------------------------------------------------------------------


def test_fit_example_from_spec() -> None:
    assert fit_to_budget(Image.new("RGB", (1000, 500)), 512).size == (720, 360)


@pytest.mark.parametrize("native", [512, 768, 1024])
@pytest.mark.parametrize(
    "size", [(1000, 500), (500, 1000), (4000, 3000), (100, 100), (64, 256), (3001, 751), (777, 333)]
)
def test_fit_to_budget_sizes(native: int, size: tuple[int, int]) -> None:
    w, h = fit_to_budget(Image.new("RGB", size), native).size
    assert w % 8 == 0 and h % 8 == 0
    assert w * h <= native * native
    assert w * h >= 0.9 * native * native  # small inputs are upscaled, too
    assert abs(math.log((w / h) / (size[0] / size[1]))) < 0.03
    assert min(w, h) >= 64


def test_fit_keeps_content_in_place() -> None:
    source = Image.new("RGB", (1000, 500), (255, 0, 0))
    source.paste((0, 0, 255), (500, 0, 1000, 500))
    fitted = fit_to_budget(source, 512)
    assert fitted.getpixel((100, 180)) == (255, 0, 0)
    assert fitted.getpixel((620, 180)) == (0, 0, 255)


@pytest.mark.parametrize("size", [(4100, 1000), (100, 401)])
def test_fit_refuses_extreme_aspect(size: tuple[int, int]) -> None:
    with pytest.raises(BadImage, match=r"the limit is 4:1, so crop it"):
        fit_to_budget(Image.new("RGB", size), 512)


@pytest.mark.parametrize("native", [512, 1024])
@pytest.mark.parametrize("aspect", ASPECT_RATIOS)
def test_size_for_aspect(aspect: str, native: int) -> None:
    w, h = size_for_aspect(aspect, native)
    a, b = (int(x) for x in aspect.split(":"))
    assert w % 8 == 0 and h % 8 == 0
    assert 0.95 * native * native <= w * h <= native * native
    assert abs(math.log((w / h) / (a / b))) < 0.02


def test_size_for_aspect_unknown() -> None:
    with pytest.raises(InvalidRequest) as err:
        size_for_aspect("5:4", 512)
    message = str(err.value)
    assert "5:4" in message and "is not supported" in message
    assert all(ratio in message for ratio in ASPECT_RATIOS)


def test_budget_size_square_is_native() -> None:
    assert budget_size(1.0, 512) == (512, 512)
    assert budget_size(1.0, 1024) == (1024, 1024)


@pytest.mark.parametrize(
    ("aspect", "expected"), [("1:1", (64, 64)), ("16:9", (112, 64)), ("9:16", (64, 112)), ("21:9", (152, 64))]
)
def test_tiny_native_keeps_sixty_four_pixel_sides(aspect: str, expected: tuple[int, int]) -> None:
    # Tiny test models have a 64-px native size: the 64-px minimum side wins over the pixel budget.
    assert size_for_aspect(aspect, 64) == expected


def test_tiny_native_fit() -> None:
    assert fit_to_budget(Image.new("RGB", (64, 64)), 64).size == (64, 64)
    assert fit_to_budget(Image.new("RGB", (400, 200)), 64).size == (128, 64)


def old_composite(rgba: np.ndarray) -> np.ndarray:
    """The former wide-integer formula: exact rounding of c·a + 255·(255 − a), over 255."""
    wide = rgba.astype(np.uint32)
    alpha = wide[..., 3:4]
    return ((wide[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_eight_bit_composite_matches_the_exact_formula(mode: str) -> None:
    rng = np.random.default_rng(7)
    rgba = rng.integers(0, 256, (72, 88, 4), dtype=np.uint8)
    rgba[:8, :, 3] = 0  # fully transparent rows, fully opaque rows, and everything in between
    rgba[8:16, :, 3] = 255
    image = Image.fromarray(rgba, "RGBA")
    image = image.quantize(256, Image.Quantize.FASTOCTREE) if mode == "P" else image.convert(mode)
    data = encode(image)  # P: a palette with per-entry alpha (tRNS)
    expected = old_composite(np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")))
    got = np.asarray(load_image(data))
    assert np.abs(got.astype(np.int16) - expected).max() <= 1
    if mode != "P":  # the palette's alphas are approximations of 0 and 255
        assert np.array_equal(got[:8], np.full_like(got[:8], 255))
        assert np.array_equal(got[8:16], np.asarray(image.convert("RGB"))[8:16])


def test_sixteen_bit_greyscale_is_converted_without_wide_arrays() -> None:
    """A 16-bit picture is scaled to 8 bits through a table, a strip at a time: numpy holds less
    than a byte per pixel at once (float64 copies of the whole picture took 24)."""
    ramp = np.arange(4000 * 1000, dtype=np.uint32).reshape(1000, 4000) % 65536
    data = encode(Image.fromarray(ramp.astype(np.uint16)))
    tracemalloc.start()
    try:
        grey, _ = open_upload(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert grey.mode == "L"
    assert peak < 4000 * 1000, f"{peak / 2**20:.1f} MB"
    expected = np.clip(np.rint(ramp / 257.0), 0, 255).astype(np.uint8)
    assert np.array_equal(np.asarray(grey), expected)
