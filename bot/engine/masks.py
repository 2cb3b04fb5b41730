"""Inpaint masks: binarise, feather, and paste the result back over the original.

The model regenerates a slightly dilated region (so it also repaints the seam) and
the result is alpha-blended over the untouched original with a feathered mask; pixels
outside the feather are copied from the original byte for byte, which undoes the VAE
round trip everywhere the user did not ask for a change.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from bot.errors import BadImage, InvalidRequest

log = logging.getLogger(__name__)

FULL_COVERAGE = 0.99
"""Fraction of the picture above which a mask is treated as "everything"."""

ASPECT_TOLERANCE = 0.05
"""Relative aspect difference allowed between a mask and the generation size."""


@dataclass(frozen=True)
class MaskPair:
    """Masks for one inpaint job, both at the generation size, mode "L"."""

    generate: Image.Image
    """Binary (0/255): what the model repaints — the user's mask dilated by ``feather``."""
    blend: Image.Image
    """Alpha for ``composite``: 255 on the user's mask, ramps to 0 over ``feather`` px outside."""
    warnings: tuple[str, ...] = ()
    """Notes for the user that do not stop the job (e.g. the mask covers everything)."""
    feather: int = 0
    """Feather radius in pixels that was used."""


def default_feather(size: tuple[int, int]) -> int:
    """Feather radius proportional to the picture: wide enough to hide seams at any size."""
    return max(4, round(min(size) / 32))


def prepare_inpaint_mask(mask: Image.Image, size: tuple[int, int], feather: int | None = None) -> MaskPair:
    """Resize a user mask to the generation ``size`` and derive the generate/blend masks.

    White (≥ 50 %) means "repaint". Raises ``InvalidRequest`` if nothing is selected and
    ``BadImage`` if the mask's shape does not match the picture's.
    """
    width, height = size
    check_mask_shape(mask.size, size)
    grey = mask if mask.mode == "L" else mask.convert("L")
    if not _binary(grey).any():
        raise InvalidRequest(
            "the mask selects nothing: paint the area to change in white on a black background"
        )
    resized = grey.resize(size, Image.Resampling.BILINEAR) if grey.size != size else grey
    selected = _binary(resized)
    if not selected.any():
        raise InvalidRequest(
            f"the painted area of the mask vanishes when it is scaled to {width}×{height}; "
            "paint a larger area in white"
        )

    radius = default_feather(size) if feather is None else feather
    if radius < 0:
        raise ValueError(f"feather must be ≥ 0, got {radius}")
    generate, blend = feathered_masks(selected, radius)

    notes: list[str] = []
    coverage = float(selected.mean())
    if coverage > FULL_COVERAGE:
        notes.append(
            "the mask selects almost the whole picture, so all of it will be repainted; "
            "use img2img instead if you want to keep its layout"
        )
    log.debug("inpaint mask %dx%d: %.1f%% selected, feather %d px", width, height, 100 * coverage, radius)
    return MaskPair(
        generate=Image.fromarray(generate, "L"),
        blend=Image.fromarray(blend, "L"),
        warnings=tuple(notes),
        feather=radius,
    )


def composite(original: Image.Image, generated: Image.Image, blend: Image.Image) -> Image.Image:
    """Blend ``generated`` over ``original`` with ``blend`` as alpha.

    Where ``blend`` is 0 the result is exactly ``original``; where it is 255, exactly
    ``generated``. All three must have the same size. Only the box where ``blend`` is non-zero
    is computed.
    """
    if not (original.size == generated.size == blend.size):
        raise ValueError(
            f"composite sizes differ: original {original.size}, generated {generated.size}, "
            f"blend {blend.size}"
        )
    result = original.convert("RGB")
    if result is original:
        result = original.copy()
    alpha_l = blend.convert("L")
    box = alpha_l.getbbox()
    if box is None:
        return result
    # Pillow's own blend (exact at 0 and 255, rounded between): in C, without the 4-byte copies of
    # the canvas numpy needs, so a 16-megapixel zoom composites in well under a second.
    mixed = Image.composite(generated.convert("RGB").crop(box), result.crop(box), alpha_l.crop(box))
    result.paste(mixed, box[:2])
    return result


def feathered_masks(selected: np.ndarray, feather: int) -> tuple[np.ndarray, np.ndarray]:
    """From a boolean selection, the binary generate mask and the feathered blend alpha (uint8).

    ``generate`` is the selection dilated by ``feather`` px (Euclidean); ``blend`` is 255 on
    the selection and falls smoothly to exactly 0 at ``feather`` px from it, so every pixel
    with ``blend > 0`` is inside ``generate``.
    """
    selected = np.asarray(selected, dtype=bool)
    if feather == 0:
        binary = np.where(selected, 255, 0).astype(np.uint8)
        return binary, binary.copy()
    # Only the selection's box grown by the feather can be non-zero: work there (a face on a 2048 px
    # photo costs its own size, not the photo's).
    rows, cols = np.flatnonzero(selected.any(axis=1)), np.flatnonzero(selected.any(axis=0))
    if rows.size == 0:
        empty = np.zeros(selected.shape, np.uint8)
        return empty, empty.copy()
    top, bottom = max(0, rows[0] - feather), min(selected.shape[0], rows[-1] + feather + 1)
    left, right = max(0, cols[0] - feather), min(selected.shape[1], cols[-1] + feather + 1)
    generate = np.zeros(selected.shape, np.uint8)
    blend = np.zeros(selected.shape, np.uint8)
    window = (slice(top, bottom), slice(left, right))
    generate[window], blend[window] = _feather_window(selected[window], feather)
    return generate, blend


def _feather_window(selected: np.ndarray, feather: int) -> tuple[np.ndarray, np.ndarray]:
    dist = distance_to(selected, feather)
    generate = np.where(dist <= feather, 255, 0).astype(np.uint8)
    t = np.clip(1.0 - dist / feather, 0.0, 1.0)
    ramp = t * t * (3.0 - 2.0 * t)  # smoothstep: no visible kink at either end of the band
    blend = np.rint(ramp * 255.0).astype(np.uint8)
    blend[selected] = 255
    return generate, blend


def distance_to(selected: np.ndarray, limit: int) -> np.ndarray:
    """Euclidean distance from every pixel to the nearest selected pixel, exact up to ``limit``.

    Pixels farther than ``limit`` get ``inf``. Separable (column pass, then row pass) and
    truncated, so it costs O(limit) array operations instead of needing scipy.
    """
    height, width = selected.shape
    inf = np.float32(np.inf)
    # Pass 1: squared vertical distance to the nearest selected pixel in the same column.
    col_sq = np.where(selected, np.float32(0), inf).astype(np.float32)
    for d in range(1, min(limit, height - 1) + 1):
        dd = np.float32(d * d)
        np.minimum(col_sq[d:], np.where(selected[:-d], dd, inf), out=col_sq[d:])
        np.minimum(col_sq[:-d], np.where(selected[d:], dd, inf), out=col_sq[:-d])
    # Pass 2: combine along rows: min over dx of dx² + col_sq[x + dx].
    total_sq = col_sq.copy()
    for d in range(1, min(limit, width - 1) + 1):
        dd = np.float32(d * d)
        np.minimum(total_sq[:, d:], col_sq[:, :-d] + dd, out=total_sq[:, d:])
        np.minimum(total_sq[:, :-d], col_sq[:, d:] + dd, out=total_sq[:, :-d])
    dist = np.sqrt(total_sq)
    dist[dist > limit] = inf
    return dist


def _binary(grey: Image.Image) -> np.ndarray:
    return np.asarray(grey, dtype=np.uint8) >= 128


def check_mask_shape(mask_size: tuple[int, int], size: tuple[int, int]) -> None:
    """Any size is fine, but another shape means the mask was drawn over a different picture."""
    mask_aspect = mask_size[0] / mask_size[1]
    aspect = size[0] / size[1]
    if abs(math.log(mask_aspect / aspect)) > math.log1p(ASPECT_TOLERANCE):
        raise BadImage(
            f"the mask is {mask_size[0]}×{mask_size[1]} ({mask_aspect:.2f}:1) but the picture is "
            f"{aspect:.2f}:1; make the mask from the same picture so their shapes match"
        )


def face_mask(size: tuple[int, int], box: tuple[float, float, float, float], grow: float = 0.25) -> bytes:
    """A PNG mask over a face's ``box``, grown by ``grow`` of its size on every side (Fix face: the
    whole face and its edge are repainted, the rest of the picture stays)."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * grow, (y1 - y0) * grow
    area = (
        max(0, round(x0 - dx)),
        max(0, round(y0 - dy)),
        min(size[0], round(x1 + dx)),
        min(size[1], round(y1 + dy)),
    )
    mask = Image.new("L", size, 0)
    mask.paste(255, area)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()
