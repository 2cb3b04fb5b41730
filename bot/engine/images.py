"""Load, validate and size input images.

Everything a user uploads passes through here before it reaches a model, so the
checks are strict (size limits before decoding, truncation is an error) and every
failure is a ``BadImage`` whose message tells the user what to do. Pure PIL/numpy.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from bot.choices import ASPECT_RATIOS
from bot.engine.family import Family, bucket_size
from bot.errors import BadImage, InvalidRequest

log = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000
"""Largest accepted input (width × height), checked from the header before decoding."""

MIN_SIDE = 64
"""Smallest accepted side of an image or reference; smaller ones carry too little detail."""

MASK_MIN_SIDE = 8
"""Smallest accepted side of a mask: masks are only resized and thresholded."""

MAX_ASPECT = 4.0
MAX_JPEG_SCANS = 100
JPEG_SCAN_BUDGET = 600_000_000
"""A progressive JPEG is decoded one scan at a time, each a pass over the whole picture: a 116 KB file
of 1000 tiny scans over 4000×4000 took 128 s of CPU to open. Ordinary progressive photos have about
ten scans; these bound both the count and scans × pixels (15 passes at the 40 MP limit, about 4 s)."""
"""Widest/tallest shape the engine generates; beyond it models produce repeated subjects."""

MAX_RESULT_SIDE = 2048
"""Longest side kept when a result is pasted back onto the user's picture (inpaint): a 4 MP PNG still
fits an upload; larger originals are scaled down to it."""

ACCEPTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF")
"""The only Pillow openers user data reaches (JPEG's also opens MPO, the multi-picture JPEG of some
cameras). Pillow's other parsers (EPS runs Ghostscript, PSD, FITS, TIFF, BMP, …) see no upload;
their files get ``NOT_A_PICTURE``."""

NOT_A_PICTURE = "send a PNG, JPEG, WebP or GIF image"
"""What to do when a file is not in ``ACCEPTED_FORMATS``; the message names exactly those formats."""

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_STRIP_PIXELS = 2**18  # converted at a time from 16 bits: its table lookup indexes with 8-byte ints (2 MB)
_SIXTEEN_TO_EIGHT = ((np.arange(65536, dtype=np.uint32) + 128) // 257).astype(np.uint8)  # round(v / 257)
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
# warnings.catch_warnings() swaps process-wide filters; serialise our own uses of it.
_OPEN_LOCK = threading.Lock()


def megapixels(pixels: int) -> str:
    """Format a pixel count as a short megapixel figure for messages ("108", "40.5")."""
    return f"{pixels / 1_000_000:.1f}".rstrip("0").rstrip(".")


def load_image(source: bytes | Path, *, what: str = "image") -> Image.Image:
    """Decode an uploaded picture into an upright RGB image, or raise ``BadImage``.

    ``what`` names the input in messages ("image", "reference", …).
    """
    image, _ = _open_validated(source, what=what, min_side=MIN_SIDE)
    return _to_rgb(image, what=what)


def open_upload(source: bytes | Path, *, what: str = "image", mask: bool = False) -> tuple[Image.Image, str]:
    """The upright first frame in an 8-bit mode, and the source format (Pillow's name), or ``BadImage``.

    The mode is "RGBA" when the picture has any transparency (masks read strokes from it), else "L"
    for greyscale and "RGB" otherwise: what an upload is stored as, with the same checks as
    ``load_image`` (``load_mask`` when ``mask``), so ``load_image``/``load_mask`` of the stored copy
    give the same picture.
    """
    image, source_format = _open_validated(source, what=what, min_side=MASK_MIN_SIDE if mask else MIN_SIDE)
    if _has_alpha(image):
        mode = "RGBA"
    elif image.mode in ("1", "L", "F") or image.mode in _SIXTEEN_BIT_MODES:
        mode = "L"
    else:
        mode = "RGB"
    if image.mode == mode:
        return image, source_format
    return _convert(image, mode, what=what), source_format


def load_mask(source: bytes | Path) -> Image.Image:
    """Decode an inpainting mask into mode "L" (white = repaint), or raise ``BadImage``.

    A mask with a partly transparent alpha channel is read from its alpha (painted =
    opaque = repaint), so strokes on a transparent layer work; otherwise luminance is used.
    """
    image, _ = _open_validated(source, what="mask", min_side=MASK_MIN_SIDE)
    if _has_alpha(image):
        alpha = _convert(image, "RGBA", what="mask").getchannel("A")
        if alpha.getextrema() != (255, 255):
            return alpha
    return _to_rgb(image, what="mask").convert("L")


def budget_size(aspect: float, native: int) -> tuple[int, int]:
    """Width and height, multiples of 8, with area ≤ ``native²`` and the closest aspect.

    Models are trained at about ``native²`` pixels; staying at that area (rather than a
    fixed side) keeps quality even for wide or tall shapes. Only when that would make a
    side shorter than ``MIN_SIDE`` (tiny test models, extreme shapes) is the short side
    raised to ``MIN_SIDE`` and the budget exceeded.
    """
    if native < 8:
        raise ValueError(f"native resolution must be at least 8 px, got {native}")
    if not aspect > 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    budget = native * native
    ideal_w = math.sqrt(budget * aspect)
    ideal_h = math.sqrt(budget / aspect)
    best: tuple[float, int, int, int] | None = None
    for w in {max(8, math.floor(ideal_w / 8) * 8), max(8, math.ceil(ideal_w / 8) * 8)}:
        for h in {max(8, math.floor(ideal_h / 8) * 8), max(8, math.ceil(ideal_h / 8) * 8)}:
            if w * h > budget:
                continue
            key = (abs(math.log((w / h) / aspect)), -(w * h), w, h)
            if best is None or key < best:
                best = key
    if best is not None and min(best[2], best[3]) >= MIN_SIDE:
        return best[2], best[3]
    if aspect >= 1:
        return max(MIN_SIDE, round(MIN_SIDE * aspect / 8) * 8), MIN_SIDE
    return MIN_SIDE, max(MIN_SIDE, round(MIN_SIDE / aspect / 8) * 8)


def limit_side(image: Image.Image, max_side: int | None = None) -> Image.Image:
    """``image`` scaled down so its longest side is at most ``max_side`` (default ``MAX_RESULT_SIDE``),
    never up, keeping the aspect."""
    size = limited_size(image.size, max_side)
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def limited_size(size: tuple[int, int], max_side: int | None = None) -> tuple[int, int]:
    """The size ``limit_side`` gives a picture of ``size``, without the picture."""
    max_side = MAX_RESULT_SIDE if max_side is None else max_side
    w, h = size
    if max(w, h) <= max_side:
        return size
    scale = max_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def fit_to_budget(image: Image.Image, native: int) -> Image.Image:
    """Resize (down or up) to about ``native²`` pixels, keeping the aspect; sides multiples of 8.

    Small inputs are upscaled too, because the models work best at their native size.
    """
    w, h = image.size
    check_aspect(w, h)
    target = budget_size(w / h, native)
    if target == image.size:
        return image.copy()
    log.debug("fitting %dx%d to %dx%d (native %d)", w, h, *target, native)
    return image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)


def size_for_aspect(aspect: str, native: int, family: Family = Family.SD15) -> tuple[int, int]:
    """Generation size for text-to-image at one of ``ASPECT_RATIOS``: the family's trained bucket
    closest to it (SDXL), else the pixel budget at that ratio (SD 1.5, and buckets too small to use)."""
    key = aspect.strip().replace(" ", "")
    if key not in ASPECT_RATIOS:
        raise InvalidRequest(
            f"the aspect ratio “{aspect}” is not supported; choose one of {', '.join(ASPECT_RATIOS)}"
        )
    ratio = parse_ratio(key)
    bucket = bucket_size(family, ratio, native)
    if bucket is not None and min(bucket) >= MIN_SIDE:
        return bucket
    return budget_size(ratio, native)


def parse_ratio(ratio: str) -> float:
    """``"16:9"`` → 1.777…; only for ratios already validated against ``ASPECT_RATIOS``."""
    a, b = ratio.split(":")
    return int(a) / int(b)


def check_aspect(w: int, h: int, *, what: str = "image") -> None:
    """Refuse a shape beyond ``MAX_ASPECT``: the engine cannot generate it, so uploads are refused too."""
    if max(w, h) > MAX_ASPECT * min(w, h):
        ratio = max(w, h) / min(w, h)
        shape = "wide" if w > h else "tall"
        raise BadImage(
            f"the {what} is {w}×{h}, which is {ratio:.1f}:1 {shape}; the limit is 4:1, "
            "so crop it to a less extreme shape"
        )


def _open_validated(source: bytes | Path, *, what: str, min_side: int) -> tuple[Image.Image, str]:
    """Open, check the header size, fully decode and apply EXIF orientation; also the format's name."""
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise BadImage(
                f"the {what} file {source.name} cannot be read ({exc.strerror or exc}); check the path"
            ) from exc
    else:
        data = bytes(source)
    if not data:
        raise BadImage(f"the {what} is an empty file; attach the picture again")

    declared = webp_canvas(data)
    if declared is not None and declared[0] * declared[1] > MAX_PIXELS:
        raise _too_many_pixels(what, *declared)
    image = _open_header(io.BytesIO(data), what=what)
    w, h = image.size
    if w * h > MAX_PIXELS:
        raise _too_many_pixels(what, w, h)
    _check_scans(data, image, what)
    if min(w, h) < min_side:
        raise BadImage(
            f"the {what} is only {w}×{h} pixels; each side must be at least {min_side} pixels, "
            "so send a larger picture"
        )
    # Animated files: only the first frame is decoded. Counting frames would parse every later frame's
    # header, and Pillow's GIF reader raises arbitrary errors there on damaged files.
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone flipped Pillow's global; we cannot detect truncation
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True; truncated uploads will not be rejected")
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(exc, what) from exc
    except Exception as exc:  # any decoder failure on user data means the file is damaged
        log.info("cannot decode %s (%s): %s", what, image.format, exc)
        raise BadImage(
            f"the {what} file is truncated or corrupt, so it cannot be decoded; "
            "upload the original file again"
        ) from exc

    source_format = image.format or ""
    try:
        # In place: an upright picture is not copied, and a turned one is one more picture only
        # while it turns (a copy returned would keep both for the caller's whole conversion).
        ImageOps.exif_transpose(image, in_place=True)
    except Exception as exc:  # broken EXIF should not cost the user their picture
        log.warning("ignoring unreadable EXIF orientation in %s: %s", what, exc)
    return image, source_format


def _check_scans(data: bytes, image: Image.Image, what: str) -> None:
    """Refuse a JPEG whose scans would cost more than ``JPEG_SCAN_BUDGET`` to decode. Start-of-scan
    markers are counted over the whole file: entropy-coded data cannot hold one (a 0xFF there is
    stuffed with 0x00), so only scans, and those of embedded thumbnails or MPO frames, are counted."""
    if image.format not in ("JPEG", "MPO"):
        return
    scans = data.count(b"\xff\xda")
    w, h = image.size
    if scans > MAX_JPEG_SCANS or scans * w * h > JPEG_SCAN_BUDGET:
        raise BadImage(
            f"the {what} is a JPEG of {scans} scans over {w}×{h} pixels, which would take minutes to "
            "decode (photos have about ten); save it again as an ordinary JPEG or a PNG and send that"
        )


def webp_canvas(data: bytes) -> tuple[int, int] | None:
    """The canvas a WebP file declares in its first chunk (None for other files). Pillow's WebP opener
    hands the file to libwebp's animation decoder, which reserves that canvas twice over at 4 bytes a
    pixel before ``Image.open`` returns: a 200-byte animated WebP claiming 13000×13000 took 1.3 GB
    of address space before the size check that follows the opening."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    kind = data[12:16]
    if kind == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if kind == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if kind == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _too_many_pixels(what: str, w: int, h: int) -> BadImage:
    return BadImage(
        f"the {what} is {w}×{h} ({megapixels(w * h)} megapixels); the limit is "
        f"{megapixels(MAX_PIXELS)} megapixels, so scale it down and send it again"
    )


def _open_header(fp: IO[bytes], *, what: str) -> Image.Image:
    """``Image.open`` (header only) with Pillow's bomb warning turned into an error."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(fp, formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(exc, what) from exc
    except UnidentifiedImageError as exc:
        raise BadImage(f"the {what} is not a picture the bot can read; {NOT_A_PICTURE}") from exc
    except Exception as exc:  # header parsers raise assorted errors on damaged files
        log.info("cannot open %s header: %s", what, exc)
        raise BadImage(
            f"the {what} file is truncated or corrupt, so it cannot be opened; upload the original file again"
        ) from exc


def _bomb_error(exc: Exception, what: str) -> BadImage:
    match = _BOMB_PIXELS.search(str(exc))
    size = f" ({megapixels(int(match.group(1)))} megapixels)" if match else ""
    return BadImage(
        f"the {what} is far too large{size}; the limit is {megapixels(MAX_PIXELS)} megapixels, "
        "so scale it down and send it again"
    )


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def _convert(image: Image.Image, mode: str, *, what: str) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        image = _to_8bit_grey(image)
        if image.mode == mode:
            return image
    try:
        return image.convert(mode)
    except (ValueError, OSError) as exc:
        raise BadImage(
            f"the {what} uses a colour format ({image.mode}) the bot cannot convert; "
            "save it as an ordinary RGB PNG or JPEG and send it again"
        ) from exc


def _to_rgb(image: Image.Image, *, what: str) -> Image.Image:
    """Any mode → RGB; transparency is composited on white (what viewers show), not black.

    The blend runs in Pillow's 8-bit paste, so a 40 MP picture needs one more RGB image, not
    wide integer arrays of it.
    """
    if not _has_alpha(image):
        return _convert(image, "RGB", what=what)
    rgba = image if image.mode == "RGBA" else _convert(image, "RGBA", what=what)
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba)
    return flat


def _to_8bit_grey(image: Image.Image) -> Image.Image:
    """Scale 16-bit (and 32-bit int / float) greyscale to 8 bits instead of clipping at 255.

    Mode "I" is assumed to hold 16-bit data (what 16-bit PNG and TIFF decode to); "F" is
    taken as 0–1 when it fits there, otherwise 0–255. Converted a strip of rows at a time, 16-bit
    values through a table: beyond the picture and its 8-bit copy (40 MP: 80 + 40 MB) only a strip
    is held, where whole-picture float64 arrays took about 600 MB.
    """
    w, h = image.size
    grey = Image.new("L", image.size)
    scale = 255.0 if image.mode == "F" and _float_max(image) <= 1.0 else 1.0
    rows = max(1, _STRIP_PIXELS // w)
    for top in range(0, h, rows):
        box = (0, top, w, min(h, top + rows))
        values = np.asarray(image.crop(box))
        if image.mode == "F":
            strip = np.clip(np.rint(np.nan_to_num(values) * np.float32(scale)), 0, 255).astype(np.uint8)
        else:  # 16-bit: every value has its 8-bit level in the table ("I" clipped to 16 bits first)
            strip = _SIXTEEN_TO_EIGHT[np.clip(values, 0, 65535) if image.mode == "I" else values]
        grey.paste(Image.fromarray(strip, "L"), box)
    return grey


def _float_max(image: Image.Image) -> float:
    """The largest value of an "F" picture, NaN ignored (``getextrema`` does not skip NaN)."""
    w, h = image.size
    top, rows = -np.inf, max(1, _STRIP_PIXELS // w)
    for row in range(0, h, rows):
        values = np.asarray(image.crop((0, row, w, min(h, row + rows))))
        if values.size and not np.isnan(values).all():
            top = max(top, float(np.nanmax(values)))
    return top
