"""Outpaint canvas layout, masks and pre-fill."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from bot.choices import ASPECT_RATIOS, DIRECTIONS, OUTPAINT_TARGETS, ZOOMS
from bot.engine.images import MAX_RESULT_SIDE
from bot.engine.masks import composite
from bot.engine.outpaint import OutpaintPlan, check_outpaint, outpaint_size, plan_outpaint
from bot.errors import InvalidRequest

NATIVE = 512


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def tinted(size: tuple[int, int], colour: tuple[int, int, int], seed: int = 0) -> Image.Image:
    """A mostly uniform picture with mild noise, so edge extension has a known colour."""
    rng = np.random.default_rng(seed)
    base = np.array(colour, dtype=np.int16) + rng.integers(-10, 11, (size[1], size[0], 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def new_area(plan: OutpaintPlan) -> np.ndarray:
    w, h = plan.canvas.size
    area = np.ones((h, w), dtype=bool)
    left, top, right, bottom = plan.box
    area[top:bottom, left:right] = False
    return area


def check_common(plan: OutpaintPlan) -> None:
    w, h = plan.canvas.size
    assert plan.canvas.mode == "RGB"
    assert plan.generate_mask.mode == plan.blend.mode == "L"
    assert plan.generate_mask.size == plan.blend.size == (w, h)
    assert w % 8 == 0 and h % 8 == 0 and w * h <= NATIVE * NATIVE
    left, top, right, bottom = plan.box
    assert 0 <= left < right <= w and 0 <= top < bottom <= h


def test_targets_constant() -> None:
    assert (*ASPECT_RATIOS, "left", "right", "up", "down", "all", "zoom1.5", "zoom2") == OUTPAINT_TARGETS
    assert DIRECTIONS == ("left", "right", "up", "down", "all")
    assert ZOOMS == ("zoom1.5", "zoom2")


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_ratio_targets(ratio: str) -> None:
    source = (900, 600) if ratio == "1:1" else (600, 600)
    plan = plan_outpaint(noise(source), ratio, NATIVE)
    check_common(plan)
    a, b = (int(x) for x in ratio.split(":"))
    w, h = plan.canvas.size
    assert abs(math.log((w / h) / (a / b))) < 0.03
    left, top, right, bottom = plan.box
    # the original keeps its shape and sits centred; the canvas only grew in one dimension
    assert abs(math.log(((right - left) / (bottom - top)) / (source[0] / source[1]))) < 0.03
    if (w / h) > source[0] / source[1]:
        assert (top, bottom) == (0, h) and abs(left - (w - right)) <= 2
    else:
        assert (left, right) == (0, w) and abs(top - (h - bottom)) <= 2


@pytest.mark.parametrize(
    ("size", "ratio"), [((1600, 900), "16:9"), ((1610, 900), "16:9"), ((512, 512), "1:1")]
)
def test_already_at_ratio(size: tuple[int, int], ratio: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        plan_outpaint(Image.new("RGB", size), ratio, NATIVE)
    assert str(err.value).startswith(f"the picture is already {ratio}; choose another ratio or a direction")


def test_unknown_target() -> None:
    with pytest.raises(InvalidRequest) as err:
        plan_outpaint(Image.new("RGB", (100, 100)), "sideways", NATIVE)
    message = str(err.value)
    assert "“sideways” is not a way to extend a picture" in message
    assert all(target in message for target in OUTPAINT_TARGETS)


@pytest.mark.parametrize(
    ("direction", "layout"),
    [
        # expected full-resolution layout for a 600×400 picture: (canvas w, canvas h, left, top)
        ("left", (900, 400, 300, 0)),
        ("right", (900, 400, 0, 0)),
        ("up", (600, 600, 0, 200)),
        ("down", (600, 600, 0, 0)),
        ("all", (900, 600, 150, 100)),
    ],
)
def test_directions_put_new_area_on_that_side(direction: str, layout: tuple[int, int, int, int]) -> None:
    plan = plan_outpaint(noise((600, 400)), direction, NATIVE)
    check_common(plan)
    w, h = plan.canvas.size
    full_w, full_h, full_left, full_top = layout
    assert abs(math.log((w / h) / (full_w / full_h))) < 0.03
    sx, sy = w / full_w, h / full_h
    expected_box = (full_left * sx, full_top * sy, (full_left + 600) * sx, (full_top + 400) * sy)
    assert all(abs(got - want) <= 1 for got, want in zip(plan.box, expected_box, strict=True))
    generate = arr(plan.generate_mask)
    left, top, right, bottom = plan.box
    sides = {
        "left": generate[:, 0],
        "right": generate[:, -1],
        "up": generate[0, :],
        "down": generate[-1, :],
    }
    grown = {"left", "right", "up", "down"} if direction == "all" else {direction}
    for side, values in sides.items():
        if side in grown:
            assert (values == 255).all(), side
        else:  # untouched sides: at least the part away from the new area is not regenerated
            assert (values == 0).any(), side
    centre = generate[(top + bottom) // 2, (left + right) // 2]
    assert centre == 0


def test_original_preserved_outside_overlap_band() -> None:
    plan = plan_outpaint(noise((600, 400), seed=3), "all", NATIVE)
    generated = noise(plan.canvas.size, seed=4)
    out = arr(composite(plan.canvas, generated, plan.blend))
    canvas, blend, generate = arr(plan.canvas), arr(plan.blend), arr(plan.generate_mask)
    area = new_area(plan)
    left, top, right, bottom = plan.box
    f = plan.feather
    deep = np.zeros_like(area)
    deep[top + f : bottom - f, left + f : right - f] = True
    assert deep.sum() > 0.3 * (~area).sum()
    assert (out[deep] == canvas[deep]).all()  # original pixels survive exactly
    assert (blend[deep] == 0).all() and (generate[deep] == 0).all()
    assert (out[area] == arr(generated)[area]).all()  # new area is fully generated
    assert (blend[area] == 255).all() and (generate[area] == 255).all()
    band = ~area & ~deep
    assert (generate[band] == 255).all()  # the seam band is regenerated…
    assert (blend[band] < 255).all() and (blend[band] > 0).any()  # …and ramps back to the original


def test_band_ramps_inward() -> None:
    plan = plan_outpaint(noise((600, 400)), "right", NATIVE)
    blend = arr(plan.blend).astype(int)
    right = plan.box[2]
    row = blend[blend.shape[0] // 2]
    inward = row[right - plan.feather - 2 : right + 1][::-1]  # from the new area into the original
    assert inward[0] == 255
    assert (np.diff(inward) <= 0).all() and inward[-1] == 0
    assert (row[: right - plan.feather] == 0).all()


def test_original_pixels_untouched_by_prefill() -> None:
    # 512×384 → 1:1 is exactly 512×512 at native 512, so no resampling: the box must equal the input.
    source = noise((512, 384), seed=7)
    plan = plan_outpaint(source, "1:1", NATIVE)
    assert plan.canvas.size == (512, 512) and plan.box == (0, 64, 512, 448)
    assert (arr(plan.canvas.crop(plan.box)) == arr(source)).all()


def test_prefill_continues_the_colours() -> None:
    colour = (200, 120, 40)
    plan = plan_outpaint(tinted((400, 400), colour), "16:9", NATIVE)
    fill = arr(plan.canvas)[new_area(plan)].astype(float)
    assert (fill[:, 0] > 150).all() and (fill[:, 1] > 70).all()  # nothing dark anywhere
    assert np.allclose(fill.mean(axis=0), colour, atol=6)


def test_prefill_is_blurred() -> None:
    # Alternating black/white rows on the right edge would extend into stripes; the blur must remove them.
    stripes = np.zeros((256, 256, 3), dtype=np.uint8)
    stripes[::2] = 255
    plan = plan_outpaint(Image.fromarray(stripes, "RGB"), "right", NATIVE)
    canvas = arr(plan.canvas).astype(float)
    far = canvas[:, plan.box[2] + 40 :]
    assert far.size > 0
    assert far.std() < 20  # edge-extended but unblurred stripes would have std ≈ 127
    assert abs(far.mean() - 127.5) < 15


def test_prefill_uses_the_nearest_edge() -> None:
    source = np.zeros((300, 300, 3), dtype=np.uint8)
    source[:, :150] = (255, 0, 0)
    source[:, 150:] = (0, 0, 255)
    plan = plan_outpaint(Image.fromarray(source, "RGB"), "up", NATIVE)
    canvas = arr(plan.canvas)
    top_row = canvas[0]
    w = canvas.shape[1]
    assert top_row[w // 8, 0] > 200 and top_row[w // 8, 2] < 50  # above the red half: red
    assert top_row[7 * w // 8, 2] > 200 and top_row[7 * w // 8, 0] < 50  # above the blue half: blue


@pytest.mark.parametrize(
    ("size", "direction"), [((300, 100), "right"), ((300, 100), "left"), ((100, 300), "up")]
)
def test_refuses_results_beyond_four_to_one(size: tuple[int, int], direction: str) -> None:
    with pytest.raises(InvalidRequest, match=r"would make it 4\.5:1; the limit is 4:1"):
        plan_outpaint(Image.new("RGB", size), direction, NATIVE)


def test_plan_is_frozen() -> None:
    plan = plan_outpaint(noise((200, 100)), "down", NATIVE)
    with pytest.raises(AttributeError):
        plan.box = (0, 0, 1, 1)  # type: ignore[misc]


def test_tiny_native() -> None:
    plan = plan_outpaint(noise((64, 64)), "16:9", 64)
    assert plan.canvas.size == (112, 64)
    left, top, right, bottom = plan.box
    assert (top, bottom) == (0, 64) and abs(left - (112 - right)) <= 1 and right - left >= 60


@pytest.mark.parametrize(
    ("size", "expand"),
    [
        ((1600, 900), "16:9"),  # already that ratio
        ((512, 512), "1:1"),
        ((300, 100), "right"),  # beyond 4:1
        ((100, 300), "up"),
        ((100, 100), "sideways"),  # not a target
        ((600, 400), "1:1"),  # fine
        ((600, 400), "all"),
        ((1600, 900), "21:9"),
    ],
)
def test_check_outpaint_is_the_engines_own_rule(size: tuple[int, int], expand: str) -> None:
    """Uploads call check_outpaint with only the picture's size; it refuses exactly what the engine
    refuses, with the same message, and lets through what the engine can plan."""
    try:
        plan_outpaint(Image.new("RGB", size), expand, NATIVE)
    except InvalidRequest as engine_refusal:
        with pytest.raises(InvalidRequest) as upload_refusal:
            check_outpaint(size, expand)
        assert str(upload_refusal.value) == str(engine_refusal)
    else:
        check_outpaint(size, expand)


@pytest.mark.parametrize(
    ("expand", "layout"),
    [
        # a 600×400 picture at its own resolution: (result w, result h, left, top)
        ("zoom1.5", (900, 600, 150, 100)),
        ("zoom2", (1200, 800, 300, 200)),
        ("left", (900, 400, 300, 0)),
        ("right", (900, 400, 0, 0)),
        ("up", (600, 600, 0, 200)),
        ("down", (600, 600, 0, 0)),
    ],
)
def test_the_result_keeps_the_originals_own_pixels_at_its_resolution(
    expand: str, layout: tuple[int, int, int, int]
) -> None:
    """Zooms and pans: the model works at its native size, the result is laid out around the picture
    at the picture's own size, with its pixels unchanged away from the seam and the rest generated."""
    source = noise((600, 400), seed=5)
    plan = plan_outpaint(source, expand, NATIVE)
    check_common(plan)
    full_w, full_h, left, top = layout
    assert plan.result.size == plan.result_blend.size == (full_w, full_h) == outpaint_size((600, 400), expand)
    assert plan.result_box == (left, top, left + 600, top + 400)
    generated = noise(plan.canvas.size, seed=6).resize((full_w, full_h))
    out = arr(composite(plan.result, generated, plan.result_blend))
    margin = 2 * plan.feather * max(full_w / plan.canvas.width, full_h / plan.canvas.height)
    m = math.ceil(margin)
    # Away from the seam: exactly the source; the seam is only where the picture meets the new area.
    inner = (m if left else 0, m if top else 0)
    far = (600 - m if left + 600 < full_w else 600, 400 - m if top + 400 < full_h else 400)
    kept = out[top + inner[1] : top + far[1], left + inner[0] : left + far[0]]
    assert (kept == arr(source)[inner[1] : far[1], inner[0] : far[0]]).all()
    assert kept.size > 0.5 * 600 * 400 * 3
    new = np.ones((full_h, full_w), dtype=bool)
    new[top : top + 400, left : left + 600] = False
    assert (arr(plan.result_blend)[new] == 255).all()  # the black fill never shows
    assert (out[new] == arr(generated)[new]).all()


def test_a_zoom_of_a_square_at_its_native_size_is_twice_as_wide() -> None:
    plan = plan_outpaint(noise((512, 512)), "zoom2", NATIVE)
    assert plan.canvas.size == (512, 512) and plan.box == (128, 128, 384, 384)  # the model's canvas
    assert plan.result.size == (1024, 1024) and plan.result_box == (256, 256, 768, 768)


def test_a_picture_over_the_result_side_is_scaled_down_first_as_inpaint_does() -> None:
    size = (MAX_RESULT_SIDE * 2, MAX_RESULT_SIDE)
    assert outpaint_size(size, "zoom1.5") == (MAX_RESULT_SIDE * 3 // 2, MAX_RESULT_SIDE * 3 // 4)
    assert outpaint_size((300, 200), "down") == (300, 300)


@pytest.mark.parametrize(("size", "expand"), [((300, 100), "right"), ((100, 100), "sideways")])
def test_outpaint_size_refuses_what_the_engine_refuses(size: tuple[int, int], expand: str) -> None:
    with pytest.raises(InvalidRequest) as engine_refusal:
        plan_outpaint(Image.new("RGB", size), expand, NATIVE)
    with pytest.raises(InvalidRequest) as sized:
        outpaint_size(size, expand)
    assert str(sized.value) == str(engine_refusal.value)
