"""Check uploaded files before anything is stored: type, size, decodes, dimensions, mask shape.

What is stored is not the upload itself but its decoded, upright first frame re-encoded without
metadata: no EXIF (GPS, camera serials), no ICC profile, no comments, no extra frames, nothing
appended after the image. Photos (JPEG, MPO, lossy WebP) become JPEG at quality 95 with full-resolution
colour; everything else (transparency, masks, PNG/GIF/lossless WebP: line art, screenshots, hard edges)
becomes PNG, which is lossless, so the engine reads exactly the picture that was checked.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from bot.engine.images import check_aspect, open_upload
from bot.engine.masks import check_mask_shape
from bot.engine.outpaint import check_outpaint
from bot.errors import BadImage
from bot.params import JobParams

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
JPEG_QUALITY = 95
"""Re-encoding a photo at 95 with 4:4:4 chroma keeps it visually identical to the upload."""

_PHOTO_FORMATS = frozenset({"JPEG", "MPO"})


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """An attachment as announced, before its bytes are fetched: enough for the cheap checks."""

    filename: str
    content_type: str | None
    size: int


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    data: bytes  # the clean re-encoded file that is stored, not the upload
    ext: str  # "png" or "jpg"
    size: tuple[int, int]  # pixels, upright

    @property
    def file(self) -> tuple[bytes, str]:
        """As the queue stores it: (data, extension)."""
        return self.data, self.ext


def check_metadata(upload: UploadInfo, what: str) -> None:
    """Cheap checks from the attachment's metadata, before downloading it."""
    if upload.content_type and not upload.content_type.startswith("image/"):
        raise BadImage(
            f"the {what} “{upload.filename}” is {upload.content_type}, not an image: "
            "attach a PNG, JPEG, WebP or GIF"
        )
    if upload.size > MAX_UPLOAD_BYTES:
        raise BadImage(
            f"the {what} “{upload.filename}” is {upload.size / 2**20:.1f} MiB; "
            f"the limit is {MAX_UPLOAD_BYTES // 2**20} MiB"
        )


def check_uploads(
    params: JobParams, image: bytes | None, mask: bytes | None
) -> tuple[CheckedUpload | None, CheckedUpload | None]:
    """A new job's image and mask, decoded and cleaned: the outpaint target and the mask's shape are
    checked against the picture, so a job the engine would refuse never waits in the queue."""
    if image is None:
        return None, None
    picture = check_image(image, "image")
    if params.expand is not None:
        check_outpaint(picture.size, params.expand)
    return picture, check_mask(mask, picture.size) if mask is not None else None


def check_image(data: bytes, what: str = "image") -> CheckedUpload:
    """Full decode with the engine's rules, including its 4:1 shape limit; a clean copy to store."""
    image, source_format = open_upload(data, what=what)
    check_aspect(*image.size, what=what)
    photo = image.mode != "RGBA" and _is_photo(source_format, data)
    return CheckedUpload(*_encode(image, photo=photo), image.size)


def check_mask(data: bytes, image_size: tuple[int, int]) -> CheckedUpload:
    """A mask that fits the picture; stored as PNG (lossless, transparency kept: strokes live in alpha)."""
    mask, _ = open_upload(data, what="mask", mask=True)
    check_mask_shape(mask.size, image_size)
    return CheckedUpload(*_encode(mask, photo=False), mask.size)


def _encode(image: Image.Image, *, photo: bool) -> tuple[bytes, str]:
    image.info = {}  # Pillow's encoders copy an ICC profile (PNG) and more from it; transparency is in RGBA
    buffer = io.BytesIO()
    if photo:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0)
        return buffer.getvalue(), "jpg"
    image.save(buffer, "PNG")
    return buffer.getvalue(), "png"


def _is_photo(source_format: str, data: bytes) -> bool:
    """JPEG, MPO and lossy WebP hold photos; re-encoding them losslessly would only inflate them."""
    if source_format in _PHOTO_FORMATS:
        return True
    return source_format == "WEBP" and _lossy_webp(data)


def _lossy_webp(data: bytes) -> bool:
    """Whether the first frame of a WebP file is VP8 (lossy) rather than VP8L (lossless)."""
    pos = 12  # after "RIFF", the size and "WEBP"
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if kind == b"VP8 ":
            return True
        if kind == b"VP8L":
            return False
        if kind == b"ANMF":  # an animation frame: a 16-byte header, then the frame's own chunks
            pos += 8 + 16
            continue
        pos += 8 + size + (size & 1)
    return False
