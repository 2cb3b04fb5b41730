"""Small builders shared by engine tests: real pictures made in code (no binary fixtures), requests."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bot.jobs import GenerationRequest, Identity
from bot.params import FaceLock, JobParams, Mode
from bot.tiny import draw_face_marker


def gradient_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth colourful picture with some texture, so generations have something to keep."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x / max(width - 1, 1), y / max(height - 1, 1), (x + y) / (width + height)], axis=-1)
    rgb = rgb * 200 + rng.normal(0, 12, size=rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def save(image: Image.Image, path: Path, fmt: str = "PNG") -> Path:
    image.save(path, format=fmt)
    return path


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


def box_mask(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, box)
    return mask


_FACE_OPTIONS = {"identity_weight": "weight", "identity_mode": "mode", "min_identity": "min_identity"}


def job_request(**options: Any) -> GenerationRequest:
    """A request from flat keywords, as tests write them: ``JobParams`` fields; the ``image`` and
    ``mask`` paths; and face lock, on when ``identity`` (the embeddings) or ``identity_image`` (the
    primary reference) is given, with ``identity_weight``, ``identity_mode``, ``min_identity`` and
    ``max_tries`` as its options."""
    image, mask = options.pop("image", None), options.pop("mask", None)
    embeddings, primary = options.pop("identity", None), options.pop("identity_image", None)
    face = {new: options.pop(old) for old, new in _FACE_OPTIONS.items() if old in options}
    if "max_tries" in options and (embeddings is not None or primary is not None or face):
        face["max_tries"] = options.pop("max_tries")
    identity = None
    if embeddings is not None or primary is not None:
        identity = Identity(tuple(embeddings or ()), primary)
    lock = FaceLock(**face) if identity is not None or face else None
    if "mode" in options:
        options["mode"] = Mode(options["mode"])
    return GenerationRequest(JobParams(**options, face=lock), image, mask, identity)


def face_photo(person: int, *, size: int = 256, face: int = 128, seed: int = 0, faces: int = 1) -> bytes:
    """A picture with ``faces`` synthetic faces of ``person`` (the pack's detector fires on them)."""
    image = gradient_image(size, size, seed=seed)
    if faces == 1:
        x = (size - face) // 2
        draw_face_marker(image, (x, x, x + face, x + face), pattern_seed=person)
    else:
        draw_face_marker(image, (8, 8, 8 + face, 8 + face), pattern_seed=person)
        draw_face_marker(image, (size - face - 8, size - face - 8, size - 8, size - 8), pattern_seed=person)
    return png_bytes(image)


# Every mode as job_request keywords, files named for the test's fixtures ("image", "mask", "identity").
EVERY_MODE: dict[str, dict[str, object]] = {
    "text": {},
    "img2img": {"mode": "img2img", "image": "image"},
    "inpaint": {"mode": "inpaint", "image": "image", "mask": "mask"},
    "outpaint": {"mode": "outpaint", "image": "image", "expand": "16:9"},
    "image_prompt": {"mode": "image_prompt", "image": "image"},
    "face lock": {"identity": "identity", "identity_weight": 1.5},
    "structure": {"mode": "img2img", "image": "image", "structure": "canny"},
}
