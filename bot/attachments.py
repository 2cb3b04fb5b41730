"""Check uploaded files before anything is stored: type, size, decodes, dimensions, mask shape."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from bot.engine.images import load_image, load_mask
from bot.engine.masks import check_mask_shape
from bot.errors import BadImage

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
_EXTENSIONS = {
    "PNG": "png",
    "JPEG": "jpg",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
    "MPO": "jpg",
}


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    data: bytes
    ext: str
    size: tuple[int, int]  # pixels, upright


def check_metadata(filename: str, content_type: str | None, size: int, what: str) -> None:
    """Cheap checks from the attachment's metadata, before downloading it."""
    if content_type and not content_type.startswith("image/"):
        raise BadImage(f"the {what} “{filename}” is {content_type}, not an image: attach a PNG, JPEG or WebP")
    if size > MAX_UPLOAD_BYTES:
        raise BadImage(
            f"the {what} “{filename}” is {size / 2**20:.1f} MiB; the limit is {MAX_UPLOAD_BYTES // 2**20} MiB"
        )


def check_image(data: bytes, what: str = "image") -> CheckedUpload:
    """Full decode with the engine's rules; the original bytes are kept as they came."""
    image = load_image(data, what=what)
    return CheckedUpload(data, _extension(data), image.size)


def check_mask(data: bytes, image_size: tuple[int, int]) -> CheckedUpload:
    mask = load_mask(data)
    check_mask_shape(mask.size, image_size)
    return CheckedUpload(data, _extension(data), mask.size)


def _extension(data: bytes) -> str:
    import io

    with Image.open(io.BytesIO(data)) as image:
        return _EXTENSIONS.get(image.format or "", "png")
