"""Compressed bombs and many-frame files, built in code and small on disk: what an upload, an
``image_url`` or a CLI file may be when someone means harm. Also the spies that tell whether any
pixels of one were decoded or any canvas reserved for one."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import GifImagePlugin, Image, ImageFile, PngImagePlugin, WebPImagePlugin

from bot.engine.images import MAX_PIXELS


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def zero_png(width: int, height: int) -> bytes:
    """A valid greyscale PNG of zeros, deflated about 1000:1 (400 MP in 390 KB). Its deflate stream is
    one block repeated after full flushes; the adler32 of n zero bytes is ``(n mod 65521) << 16 | 1``."""
    row = width + 1  # the filter byte, then one byte a pixel
    rows_per = max(1, (1 << 22) // row)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(b"\0" * (row * rows_per)) + deflate.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(height, rows_per)
    tail = deflate.compress(b"\0" * (row * rest)) + deflate.flush(zlib.Z_FINISH)
    stream = b"\x78\xda" + block * full + tail + struct.pack(">I", ((row * height) % 65521) << 16 | 1)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def _frames(count: int, mode: str = "RGB") -> list[Image.Image]:
    """64 px frames that all differ (an encoder may merge equal ones)."""
    frames = []
    for n in range(count):
        frame = Image.new(mode, (64, 64), 0 if mode == "P" else (40, 90, 160))
        if mode == "P":
            frame.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        frame.putpixel((n % 64, (n // 64) % 64), 1 if mode == "P" else (255, 255, n % 256))
        frames.append(frame)
    return frames


def many_frames(fmt: str, count: int) -> bytes:
    """An animated GIF, APNG or WebP of ``count`` distinct 64 px frames."""
    frames = _frames(count, "P" if fmt == "GIF" else "RGB")
    buffer = io.BytesIO()
    extra: dict[str, Any] = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=10, **extra)
    return buffer.getvalue()


def animated_webp_canvas(width: int, height: int) -> bytes:
    """A real three-frame 64 px animated WebP whose canvas says ``width``×``height`` (frames may be
    smaller than the canvas, so libwebp takes it): about 200 bytes."""
    data = bytearray(many_frames("WEBP", 3))
    at = data.index(b"VP8X")
    data[at + 12 : at + 15] = (width - 1).to_bytes(3, "little")
    data[at + 15 : at + 18] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def gif_with(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    """A GIF of one 2-colour frame: a small frame on a huge logical screen, or the other way round."""
    head = struct.pack("<HHBBB", *screen, 0x80, 0, 0) + bytes(6)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, *frame, 0) + b"\x02"
    return b"GIF89a" + head + descriptor + b"\x02\x44\x01\x00;"


def _scan_end(data: bytes, start: int) -> int:
    """Where the start-of-scan segment at ``start`` and its entropy-coded data end: at the next
    marker that is neither a stuffed 0xFF00 nor a restart marker."""
    end = start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    while not (data[end] == 0xFF and data[end + 1] != 0 and not 0xD0 <= data[end + 1] <= 0xD7):
        end += 1
    return end


def scan_bomb(side: int, scans: int) -> bytes:
    """A real progressive JPEG of a flat ``side``² picture with its last scan (tens of bytes: one
    end-of-band run) repeated ``scans`` times: each repeat is one more pass over every block."""
    buffer = io.BytesIO()
    Image.new("L", (side, side), 128).save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    last = data.rindex(b"\xff\xda")
    end = _scan_end(data, last)
    return data[:end] + data[last:end] * scans + data[end:]


BOMBS: dict[str, tuple[Callable[[], bytes], str]] = {
    # name: (the file, the size its refusal names)
    "png-42MP": (lambda: zero_png(7000, 6000), "7000×6000 (42 megapixels)"),
    "png-400MP": (lambda: zero_png(20000, 20000), "far too large (400 megapixels)"),  # past Pillow's limit
    "webp-animated-169MP": (lambda: animated_webp_canvas(13000, 13000), "13000×13000 (169 megapixels)"),
    "gif-screen-42MP": (lambda: gif_with((7000, 6000), (1, 1)), "7000×6000 (42 megapixels)"),
    "gif-frame-42MP": (lambda: gif_with((64, 64), (7000, 6000)), "7000×6000 (42 megapixels)"),
}


def refusal(size: str, what: str = "image") -> str:
    return f"the {what} is {size}; the limit is 40 megapixels, so scale it down and send it again"


@dataclass
class Spies:
    """What Pillow did: pictures decoded (their sizes), frames sought, WebP canvases reserved."""

    decoded: list[tuple[int, int]] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    canvases: list[tuple[int, int] | None] = field(default_factory=list)  # handed to libwebp

    @property
    def bomb_touched(self) -> bool:
        """Whether a picture over the limit was decoded, or its canvas reserved by libwebp."""
        sizes = [*self.decoded, *(c for c in self.canvases if c is not None)]
        return any(w * h > MAX_PIXELS for w, h in sizes)


@contextmanager
def spying(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spies]:
    spies = Spies()
    load = ImageFile.ImageFile.load

    def spied_load(image: ImageFile.ImageFile) -> Any:
        spies.decoded.append(image.size)
        if image.size[0] * image.size[1] > MAX_PIXELS:
            raise AssertionError(f"the pixels of a {image.size} picture were decoded")
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spied_load)
    for plugin in (GifImagePlugin.GifImageFile, PngImagePlugin.PngImageFile, WebPImagePlugin.WebPImageFile):
        seek = plugin._seek  # what ``seek`` and ``n_frames`` both walk the frames with

        def spied_seek(image: Any, frame: int, *args: Any, seek: Any = seek) -> None:
            spies.frames.append(frame)
            seek(image, frame, *args)

        monkeypatch.setattr(plugin, "_seek", spied_seek)
    decoder = WebPImagePlugin._webp.WebPAnimDecoder

    def spied_decoder(data: bytes) -> Any:
        spies.canvases.append(WebPImagePlugin._get_size(data))  # Pillow's own reading of the header
        return decoder(data)

    monkeypatch.setattr(WebPImagePlugin._webp, "WebPAnimDecoder", spied_decoder)
    yield spies
