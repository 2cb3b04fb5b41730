"""Real compressed bombs and many-frame files against the upload check: refused from their headers with
the size they claim, before any pixel is decoded or any canvas reserved; many frames cost one frame."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image, WebPImagePlugin

from bot.engine.images import webp_canvas
from bot.engine.uploads import check_image, check_uploads
from bot.errors import BadImage
from bot.params import JobParams, Mode
from tests.bot.engine.bombs import BOMBS, many_frames, refusal, scan_bomb, spying, zero_png


def test_the_png_bomb_is_real() -> None:
    """Guards the tests below: 41 KB that truly inflate to 42 million pixels of a valid PNG."""
    data = zero_png(7000, 6000)
    assert len(data) < 64 * 1024
    idat = data.index(b"IDAT") + 4
    inflated = zlib.decompress(data[idat : len(data) - 12 - 4])  # IEND (12) and IDAT's CRC (4) after it
    assert len(inflated) == (7000 + 1) * 6000 and not inflated.strip(b"\0")


@pytest.mark.parametrize("name", BOMBS)
def test_a_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    make, size = BOMBS[name]
    data = make()
    assert len(data) < 512 * 1024
    with spying(monkeypatch) as spies, pytest.raises(BadImage) as err:
        check_image(data, "image")
    assert str(err.value) == refusal(size)
    assert not spies.bomb_touched and spies.decoded == []
    if name.startswith("webp"):
        assert spies.canvases == []  # refused before libwebp saw the file


def test_the_same_refusal_for_a_mask() -> None:
    params = JobParams(prompt="x", mode=Mode.INPAINT)
    with pytest.raises(BadImage) as err:
        check_uploads(params, many_frames("PNG", 1), zero_png(7000, 6000))
    assert str(err.value) == refusal("7000×6000 (42 megapixels)", "mask")


@pytest.mark.parametrize(("fmt", "count"), [("GIF", 5000), ("PNG", 1000), ("WEBP", 1000)])
def test_many_frames_cost_one(monkeypatch: pytest.MonkeyPatch, fmt: str, count: int) -> None:
    """Only the first frame is decoded and kept: a frame count is no lever. (Pillow's GIF reader
    does not count frames when it opens a file; APNG and WebP read the count from a header.)"""
    data = many_frames(fmt, count)
    assert Image.open(io.BytesIO(data)).n_frames == count
    with spying(monkeypatch) as spies:
        checked = check_image(data)
    assert checked.size == (64, 64) and set(spies.decoded) == {(64, 64)}
    assert set(spies.frames) <= {0}  # no later frame was read, not even to count them
    stored = Image.open(io.BytesIO(checked.data))
    assert getattr(stored, "n_frames", 1) == 1


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (300, 200)),
        Image.new("RGBA", (16383, 1)),
    ],
    ids=["300x200", "16383x1"],
)
@pytest.mark.parametrize("options", [{"lossless": True}, {"quality": 50}, {"save_all": True, "duration": 5}])
def test_webp_canvas_reads_as_pillow_does(image: Image.Image, options: dict[str, object]) -> None:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", **options)
    data = buffer.getvalue()
    assert webp_canvas(data) == WebPImagePlugin._get_size(data) == image.size
    assert webp_canvas(b"RIFF\0\0\0\0WEBPVP8X" + bytes(20)) == (1, 1) and webp_canvas(zero_png(8, 8)) is None


def test_the_scan_bomb_is_real() -> None:
    """Guards the test below: Pillow opens it and reads every repeated scan (a 256 px one, so fast)."""
    data = scan_bomb(256, 300)
    assert data.count(b"\xff\xda") > 300 and len(data) < 32 * 1024
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.size == (256, 256)


@pytest.mark.parametrize(
    ("side", "scans", "count"),
    [(64, 1000, 1006), (4000, 40, 46)],  # too many scans; fewer, but over the budget at 16 MP
    ids=["count", "budget"],
)
def test_a_progressive_jpeg_of_many_scans_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch, side: int, scans: int, count: int
) -> None:
    data = scan_bomb(side, scans)
    with spying(monkeypatch) as spies, pytest.raises(BadImage) as err:
        check_image(data, "image")
    assert str(err.value) == (
        f"the image is a JPEG of {count} scans over {side}×{side} pixels, which would take minutes to "
        "decode (photos have about ten); save it again as an ordinary JPEG or a PNG and send that"
    )
    assert spies.decoded == []


def test_ordinary_progressive_photos_and_mpo_pass() -> None:
    """A colour progressive JPEG with EXIF (and its thumbnail's scan) and a two-frame MPO."""
    photo = Image.radial_gradient("L").convert("RGB").resize((3000, 2000))
    exif = Image.Exif()
    exif[0x0112] = 1
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", progressive=True, quality=95, exif=exif)
    assert check_image(buffer.getvalue()).size == (3000, 2000)
    mpo = io.BytesIO()
    photo.save(mpo, "MPO", save_all=True, append_images=[photo])
    assert Image.open(io.BytesIO(mpo.getvalue())).format == "MPO"
    assert check_image(mpo.getvalue()).size == (3000, 2000)
