"""Hypothesis strategies for uploaded files: real encodings of every format and mode, and broken ones.

Everything is built in code. Real pictures stay at most 128 px a side; huge sizes come from crafted
headers (valid PNG/GIF/JPEG/WebP headers claiming any size) over little or no pixel data.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st
from PIL import Image

ACCEPTED = ("PNG", "JPEG", "WEBP", "GIF", "MPO")
"""What users may send (MPO opens through the JPEG reader)."""
REFUSED = (
    "BMP",
    "TIFF",
    "ICO",
    "PCX",
    "TGA",
    "PPM",
    "SGI",
    "IM",
    "EPS",
    "DDS",
    "QOI",
    "JPEG2000",
    "XBM",
    "MSP",
)
"""Formats Pillow writes but uploads must not reach (PSD and FITS are crafted: Pillow cannot write them)."""
MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "I;16", "I", "F", "CMYK", "YCbCr", "LAB", "HSV")
SIDES = st.one_of(st.integers(1, 128), st.sampled_from([1, 2, 7, 8, 31, 32, 63, 64, 65, 127, 128]))
HUGE_SIDES = st.sampled_from([1, 8, 63, 64, 65, 256, 4096, 6325, 6400, 65535])
CHUNK = struct.Struct(">I")


# -- pictures -------------------------------------------------------------------------------------


@st.composite
def pictures(draw: st.DrawFn, mode: str | None = None) -> Image.Image:
    """A picture in any Pillow mode, at most 128 px a side, often at extreme ratios."""
    mode = mode or draw(st.sampled_from(MODES))
    width, height = draw(SIDES), draw(SIDES)
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["noise", "flat", "stripes"]))
    rng = np.random.default_rng(seed)
    bands = len(Image.new(mode, (1, 1)).getbands()) if mode not in ("I;16",) else 1
    shape = (height, width, bands)
    if kind == "noise":
        values = rng.integers(0, 256, shape)
    elif kind == "flat":
        values = np.broadcast_to(rng.integers(0, 256, (1, 1, bands)), shape)
    else:
        values = ((np.arange(width)[None, :, None] // 3 % 2) * 255).repeat(height, 0).repeat(bands, 2)
    values = np.asarray(values, dtype=np.uint8)
    if mode in ("I;16", "I"):
        wide = values[..., 0].astype(np.uint16) * 257
        if mode == "I;16":
            return Image.frombytes("I;16", (width, height), wide.astype("<u2").tobytes())
        return Image.frombytes("I", (width, height), wide.astype("<i4").tobytes())
    if mode == "F":
        scaled = values[..., 0].astype("<f4") / draw(st.sampled_from([1.0, 255.0]))
        return Image.frombytes("F", (width, height), scaled.tobytes())
    if mode == "1":
        return Image.fromarray(values[..., 0], "L").convert("1")
    if mode in ("P", "PA"):
        colours = draw(st.integers(1, 256))
        indices = (values[..., 0].astype(np.int32) % colours).astype(np.uint8)
        image = Image.frombytes("P", (width, height), indices.tobytes())
        image.putpalette(rng.integers(0, 256, colours * 3).astype(np.uint8).tobytes())
        if mode == "PA":
            rgba = image.convert("RGBA")
            rgba.putalpha(Image.fromarray(values[..., -1], "L"))
            return rgba.convert("PA")
        return image
    raw = values if bands > 1 else values[..., 0]
    base_mode = {"RGBa": "RGBA"}.get(mode, mode)
    image = Image.frombytes(base_mode, (width, height), np.ascontiguousarray(raw).tobytes())
    return image if base_mode == mode else image.convert(mode)


# -- encodings ------------------------------------------------------------------------------------


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    if "append_images" in params:  # some writers adjust the frames they are given; keep ours intact
        params["append_images"] = [frame.copy() for frame in params["append_images"]]  # type: ignore[attr-defined]
        image = image.copy()
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def save_any(image: Image.Image, fmt: str, **params: object) -> bytes:
    """``image`` as ``fmt``; when that format cannot hold the mode (or the options), the nearest it can."""
    for candidate in (image, _nearest_mode(image, fmt)):
        try:
            return _save(candidate, fmt, **params)
        except (OSError, ValueError, KeyError, TypeError, struct.error):
            continue
    try:
        return _save(image.convert("RGB"), fmt)
    except (OSError, ValueError, KeyError, TypeError):
        return _save(image.convert("L"), fmt)


def _nearest_mode(image: Image.Image, fmt: str) -> Image.Image:
    if image.mode in ("RGBa", "PA"):
        return image.convert("RGBA")
    if image.mode in ("F", "I", "I;16") and fmt not in ("PNG", "TIFF"):
        return image.convert("L") if image.mode != "I;16" else image.convert("I").convert("L")
    if image.mode in ("LAB", "HSV", "YCbCr") or (image.mode == "CMYK" and fmt != "JPEG"):
        return image.convert("RGB")
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def exif_with(orientation: int, gps: bool = False) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Likeness Test Camera"
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 22.0, 0.0), 3: "E", 4: (4.0, 53.0, 0.0)}
    return exif


@st.composite
def transparency_tricks(draw: st.DrawFn, image: Image.Image) -> dict[str, object]:
    """Transparency entries a palette, grey or RGB picture can carry, valid or odd."""
    if image.mode == "P":
        return {
            "transparency": draw(
                st.one_of(
                    st.integers(0, 255),  # possibly past the palette's end
                    st.binary(min_size=0, max_size=300),  # a tRNS table of any length
                )
            )
        }
    if image.mode == "L":
        return {"transparency": draw(st.integers(0, 255))}
    if image.mode == "RGB":
        return {
            "transparency": draw(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)))
        }
    return {}


@st.composite
def accepted_files(draw: st.DrawFn, fmt: str | None = None) -> bytes:
    """A well-formed file of an accepted format, maybe animated, with EXIF, transparency or a trailer."""
    fmt = fmt or draw(st.sampled_from(ACCEPTED))
    image = draw(pictures())
    params: dict[str, object] = {}
    if fmt in ("JPEG", "MPO", "WEBP", "PNG") and draw(st.booleans()):
        params["exif"] = exif_with(draw(st.integers(0, 9)), gps=draw(st.booleans()))
    if fmt in ("PNG", "GIF") and draw(st.booleans()):
        params.update(draw(transparency_tricks(image)))
    if fmt in ("JPEG", "MPO", "WEBP"):
        params["quality"] = draw(st.integers(1, 100))
    if fmt == "WEBP":
        params["lossless"] = draw(st.booleans())
    frames = draw(st.integers(1, 3)) if fmt in ("GIF", "WEBP", "PNG", "MPO") else 1
    if frames > 1:
        if fmt == "PNG" and image.mode in ("P", "PA"):
            image = image.convert("RGBA")  # Pillow's APNG writer is not deterministic for palette frames
        extra = [draw(pictures(image.mode)).resize(image.size) for _ in range(frames - 1)]
        params.update(save_all=True, append_images=extra, duration=draw(st.integers(0, 200)))
        if fmt == "PNG":
            params["default_image"] = draw(st.booleans())
        if fmt in ("GIF", "PNG"):
            params["disposal"] = draw(st.integers(0, 3 if fmt == "GIF" else 2))
    data = save_any(image, fmt, **params)
    if draw(st.booleans()):
        data += draw(st.binary(min_size=1, max_size=64))  # trailing bytes
    return data


@st.composite
def refused_files(draw: st.DrawFn) -> bytes:
    """A valid file of a format uploads must not reach (their parsers are not for user data)."""
    kind = draw(st.sampled_from((*REFUSED, "PSD", "FITS")))
    if kind == "PSD":
        return psd_header(draw(SIDES), draw(SIDES)) + draw(st.binary(max_size=256))
    if kind == "FITS":
        return fits_file(draw(SIDES), draw(SIDES))
    image = draw(pictures("1")) if kind in ("XBM", "MSP") else draw(pictures())
    return save_any(image, kind)


def psd_header(width: int, height: int) -> bytes:
    """A Photoshop header (RGB, 8 bit) followed by empty sections and raw image data."""
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = CHUNK.pack(0) + CHUNK.pack(0) + CHUNK.pack(0)  # colour mode, resources, layers
    return head + sections + struct.pack(">H", 0) + bytes(width * height * 3)


def fits_file(width: int, height: int) -> bytes:
    cards = [
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    2",
        f"NAXIS1  = {width:>20}",
        f"NAXIS2  = {height:>20}",
        "END",
    ]
    header = "".join(card.ljust(80) for card in cards).ljust(2880).encode("ascii")
    data = bytes(width * height)
    return header + data + bytes(-len(data) % 2880)


# -- crafted headers claiming any size --------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return CHUNK.pack(len(data)) + kind + data + CHUNK.pack(zlib.crc32(kind + data))


def png_claiming(width: int, height: int, payload: bytes = b"", colour_type: int = 0) -> bytes:
    depth = 8
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(payload))
        + png_chunk(b"IEND", b"")
    )


def gif_claiming(width: int, height: int, payload: bytes = b"") -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + bytes(6)  # 2-colour global table
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02"
    return b"GIF89a" + screen + descriptor + bytes([len(payload[:255])]) + payload[:255] + b"\x00;"


def jpeg_claiming(width: int, height: int, payload: bytes = b"") -> bytes:
    """A baseline JPEG header (real tables from a tiny JPEG) with its frame size patched."""
    data = bytearray(_save(Image.new("RGB", (8, 8), (200, 30, 30)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    sos = data.index(b"\xff\xda")
    scan_start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    return bytes(data[:scan_start]) + payload + b"\xff\xd9"


def webp_claiming(width: int, height: int, payload: bytes = b"") -> bytes:
    """An extended WebP (VP8X) whose canvas claims ``width``×``height`` (each at most 2**24)."""
    vp8x = bytes([0, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    if payload:
        body += b"VP8 " + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


CLAIMS: dict[str, Callable[[int, int, bytes], bytes]] = {
    "PNG": png_claiming,
    "GIF": gif_claiming,
    "JPEG": jpeg_claiming,
    "WEBP": webp_claiming,
}


@st.composite
def claimed_sizes(draw: st.DrawFn) -> bytes:
    """A valid header of an accepted format claiming an extreme size, over a little data."""
    fmt = draw(st.sampled_from(sorted(CLAIMS)))
    width, height = draw(HUGE_SIDES), draw(HUGE_SIDES)
    if fmt == "PNG" and draw(st.booleans()):
        width, height = draw(st.sampled_from([(2**31 - 1, 1), (1, 2**31 - 1), (2**31 - 1, 2**31 - 1)]))
    return CLAIMS[fmt](width, height, draw(st.binary(max_size=64)))


# -- damage ---------------------------------------------------------------------------------------


@st.composite
def truncated(draw: st.DrawFn, files: st.SearchStrategy[bytes]) -> bytes:
    data = draw(files)
    return data[: draw(st.integers(0, max(0, len(data) - 1)))]


@st.composite
def header_then_noise(draw: st.DrawFn, files: st.SearchStrategy[bytes]) -> bytes:
    """The first bytes of a real file (a valid header), then random bytes."""
    data = draw(files)
    keep = draw(st.integers(1, min(len(data), 128)))
    return data[:keep] + draw(st.binary(min_size=0, max_size=512))


@st.composite
def bit_flips(draw: st.DrawFn, files: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(files))
    for _ in range(draw(st.integers(1, 8))):
        index = draw(st.integers(0, len(data) - 1))
        data[index] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


def uploads() -> st.SearchStrategy[bytes]:
    """Every kind of file a user could attach: good, refused, damaged, lying about its size, noise."""
    good = accepted_files()
    return st.one_of(
        good,
        good,  # weighted: most examples should reach the decoders
        refused_files(),
        truncated(good),
        header_then_noise(st.one_of(good, refused_files())),
        bit_flips(good),
        claimed_sizes(),
        st.binary(max_size=256),
    )
