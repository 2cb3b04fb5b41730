"""Outpainting: lay out a larger canvas around the original and say what to generate.

The original keeps its pixels; only the new area (plus a thin band over the seam) is
generated. The new area is pre-filled with the original's edges smeared outward and
blurred, so the model starts from plausible colours instead of grey or black.

The model works at about its native size, but the result is laid out at the picture's own
resolution (up to ``MAX_RESULT_SIDE`` for the picture, as inpaint does): the generated canvas is
scaled up around the original, whose pixels come back unchanged. So zooming out of a 1024 px
picture by 2× gives 2048 px, and the output limit (``bot.output_limit``) bounds it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from bot.choices import ASPECT_RATIOS, DIRECTIONS, OUTPAINT_TARGETS, ZOOMS
from bot.engine.images import MAX_ASPECT, budget_size, limit_side, limited_size, parse_ratio
from bot.engine.masks import default_feather, feathered_masks
from bot.errors import InvalidRequest

log = logging.getLogger(__name__)

SIDE_GROWTH = 0.5
"""A single direction adds this fraction of the image's width (left/right) or height (up/down)."""

ALL_GROWTH = 0.25
""""all" adds this fraction of the width/height on every side."""

RATIO_TOLERANCE = 0.01
"""An image within 1 % of the target ratio is "already there"."""


@dataclass(frozen=True)
class OutpaintPlan:
    """Everything the pipeline needs for one outpaint, all at the generation size."""

    canvas: Image.Image
    """RGB: the original (scaled) inside ``box``, blurred edge-extension elsewhere."""
    generate_mask: Image.Image
    """L, binary: 255 on the new area and on a ``feather``-px band just inside the original."""
    blend: Image.Image
    """L: 255 on the new area, ramping to 0 across the band, exactly 0 deeper in the original."""
    box: tuple[int, int, int, int]
    """Where the original sits in the canvas: (left, top, right, bottom)."""
    feather: int
    """Width in pixels of the regenerated overlap band."""
    result: Image.Image
    """RGB at the result's size (``outpaint_size``): the original's own pixels in ``result_box``."""
    result_blend: Image.Image
    """L at the result's size: ``blend`` scaled up, 255 on the whole new area."""
    result_box: tuple[int, int, int, int]
    """Where the original sits in ``result``, unscaled."""


def plan_outpaint(image: Image.Image, expand: str, native: int) -> OutpaintPlan:
    """Lay out the outpaint canvas for ``expand`` (a ratio, a direction or a zoom) at about
    ``native²`` px, and the result around the original at its own resolution."""
    image = limit_side(image)
    width, height = image.size
    target, (full_w, full_h, left, top) = _checked_layout((width, height), expand)

    gen_w, gen_h = budget_size(full_w / full_h, native)
    sx, sy = gen_w / full_w, gen_h / full_h
    box = (round(left * sx), round(top * sy), round((left + width) * sx), round((top + height) * sy))
    placed = image.convert("RGB")
    inner = (box[2] - box[0], box[3] - box[1])
    if placed.size != inner:
        placed = placed.resize(inner, Image.Resampling.LANCZOS, reducing_gap=3.0)
    canvas = _prefill(np.asarray(placed), box, (gen_w, gen_h))

    new_area = np.ones((gen_h, gen_w), dtype=bool)
    new_area[box[1] : box[3], box[0] : box[2]] = False
    feather = default_feather((gen_w, gen_h))
    generate, blend = feathered_masks(new_area, feather)
    log.debug(
        "outpaint %s: %dx%d → layout %dx%d → canvas %dx%d, box %s, feather %d",
        target,
        width,
        height,
        full_w,
        full_h,
        gen_w,
        gen_h,
        box,
        feather,
    )
    result_box = (left, top, left + width, top + height)
    result = Image.new("RGB", (full_w, full_h))  # only the original shows: the rest is generated
    result.paste(image.convert("RGB"), result_box[:2])
    return OutpaintPlan(
        canvas=Image.fromarray(canvas, "RGB"),
        generate_mask=Image.fromarray(generate, "L"),
        blend=Image.fromarray(blend, "L"),
        box=box,
        feather=feather,
        result=result,
        result_blend=_scaled_blend(blend, (full_w, full_h), result_box),
        result_box=result_box,
    )


def outpaint_size(size: tuple[int, int], expand: str) -> tuple[int, int]:
    """The result's size for a picture of ``size`` (what ``plan_outpaint`` makes), or
    ``InvalidRequest`` as ``check_outpaint``; for the output limit, before anything is queued."""
    full_w, full_h = _checked_layout(limited_size(size), expand)[1][:2]
    return full_w, full_h


def _scaled_blend(blend: np.ndarray, size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """The generation-size blend at the result's size: the seam's ramp scaled with the picture, the
    new area wholly generated (no rounding of the small canvas may let the black fill show)."""
    scaled = Image.fromarray(blend, "L")
    if scaled.size != size:
        scaled = scaled.resize(size, Image.Resampling.BILINEAR)
    alpha = np.array(scaled)
    inside = np.zeros(alpha.shape, dtype=bool)
    inside[box[1] : box[3], box[0] : box[2]] = True
    alpha[~inside] = 255
    return Image.fromarray(alpha, "L")


def check_outpaint(size: tuple[int, int], expand: str) -> None:
    """Raise ``InvalidRequest`` if a picture of ``size`` cannot be extended as ``expand`` asks.

    The engine's own rule (``plan_outpaint`` applies it): an unknown target, a ratio the picture
    already has, or a result beyond 4:1. Uploads call it too, so such a job is refused at once
    rather than after waiting in the queue.
    """
    _checked_layout(limited_size(size), expand)


def _checked_layout(size: tuple[int, int], expand: str) -> tuple[str, tuple[int, int, int, int]]:
    target = expand.strip().lower().replace(" ", "")
    if target not in OUTPAINT_TARGETS:
        raise InvalidRequest(
            f"“{expand}” is not a way to extend a picture; choose a ratio ({', '.join(ASPECT_RATIOS)}), "
            f"a direction ({', '.join(DIRECTIONS)}) or a zoom out ({', '.join(ZOOMS)})"
        )
    width, height = size
    layout = _layout(width, height, target)
    full_w, full_h = layout[:2]
    if max(full_w, full_h) > MAX_ASPECT * min(full_w, full_h):
        ratio = max(full_w, full_h) / min(full_w, full_h)
        raise InvalidRequest(
            f"extending the {width}×{height} picture {_describe(target)} would make it {ratio:.1f}:1; "
            "the limit is 4:1, so choose another direction or ratio"
        )
    return target, layout


def _layout(width: int, height: int, target: str) -> tuple[int, int, int, int]:
    """Full-resolution canvas size and the original's offset: (canvas_w, canvas_h, left, top)."""
    if target == "left":
        extra = round(width * SIDE_GROWTH)
        return width + extra, height, extra, 0
    if target == "right":
        return width + round(width * SIDE_GROWTH), height, 0, 0
    if target == "up":
        extra = round(height * SIDE_GROWTH)
        return width, height + extra, 0, extra
    if target == "down":
        return width, height + round(height * SIDE_GROWTH), 0, 0
    if target == "all":
        dx, dy = round(width * ALL_GROWTH), round(height * ALL_GROWTH)
        return width + 2 * dx, height + 2 * dy, dx, dy
    if target in ZOOMS:
        factor = float(target.removeprefix("zoom"))
        full_w, full_h = round(width * factor), round(height * factor)
        return full_w, full_h, (full_w - width) // 2, (full_h - height) // 2

    ratio = parse_ratio(target)
    current = width / height
    if abs(current / ratio - 1) <= RATIO_TOLERANCE:
        raise InvalidRequest(
            f"the picture is already {target}; choose another ratio or a direction ({', '.join(DIRECTIONS)})"
        )
    if ratio > current:  # wider: grow the width only, original centred
        full_w = round(height * ratio)
        return full_w, height, (full_w - width) // 2, 0
    full_h = round(width / ratio)
    return width, full_h, 0, (full_h - height) // 2


def _prefill(placed: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """Canvas with the original in ``box`` and its border replicated outward and blurred around it."""
    gen_w, gen_h = size
    left, top, right, bottom = box
    padded = np.pad(placed, ((top, gen_h - bottom), (left, gen_w - right), (0, 0)), mode="edge")
    radius = max(8.0, min(gen_w, gen_h) / 8)
    blurred = np.array(Image.fromarray(padded, "RGB").filter(ImageFilter.GaussianBlur(radius)))
    blurred[top:bottom, left:right] = placed
    return blurred


_DESCRIPTIONS = {
    "left": "to the left",
    "right": "to the right",
    "up": "upwards",
    "down": "downwards",
    "all": "on all sides",
    "zoom1.5": "by zooming out 1.5×",
    "zoom2": "by zooming out 2×",
}


def _describe(target: str) -> str:
    return _DESCRIPTIONS.get(target, f"to {target}")
