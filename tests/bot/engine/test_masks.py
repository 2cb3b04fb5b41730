"""Inpaint mask preparation and compositing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bot.engine.masks import (
    MaskPair,
    _feather_window,
    composite,
    default_feather,
    distance_to,
    feathered_masks,
    prepare_inpaint_mask,
)
from bot.errors import BadImage, InvalidRequest


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def rect_mask(size: tuple[int, int], box: tuple[int, int, int, int], value: int = 255) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(value, box)
    return mask


def random_rgb(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def test_empty_mask_rejected() -> None:
    with pytest.raises(InvalidRequest, match=r"^the mask selects nothing: paint the area to change in white"):
        prepare_inpaint_mask(Image.new("L", (64, 64), 0), (64, 64))


def test_binarised_at_half() -> None:
    with pytest.raises(InvalidRequest, match="selects nothing"):
        prepare_inpaint_mask(Image.new("L", (64, 64), 127), (64, 64))
    mask = Image.new("L", (64, 64), 0)
    mask.paste(128, (0, 0, 32, 64))
    mask.paste(100, (32, 0, 64, 64))
    pair = prepare_inpaint_mask(mask, (64, 64), feather=0)
    blend = arr(pair.blend)
    assert (blend[:, :32] == 255).all() and (blend[:, 32:] == 0).all()
    assert set(np.unique(arr(pair.generate))) == {0, 255}


def test_speck_that_vanishes_when_resized() -> None:
    mask = Image.new("L", (1024, 1024), 0)
    mask.putpixel((500, 500), 255)
    with pytest.raises(InvalidRequest, match=r"vanishes when it is scaled to 64×64; paint a larger area"):
        prepare_inpaint_mask(mask, (64, 64))


def test_mismatched_shape_rejected() -> None:
    with pytest.raises(BadImage, match=r"the mask is 500×500 \(1\.00:1\) but the picture is 2\.00:1"):
        prepare_inpaint_mask(rect_mask((500, 500), (0, 0, 100, 100)), (720, 360))


def test_resized_to_generation_size() -> None:
    mask = rect_mask((2000, 1000), (0, 0, 1000, 1000))  # left half
    pair = prepare_inpaint_mask(mask, (720, 360))
    assert isinstance(pair, MaskPair)
    assert pair.generate.size == pair.blend.size == (720, 360)
    assert pair.generate.mode == pair.blend.mode == "L"
    blend = arr(pair.blend)
    assert (blend[:, :355] == 255).all()
    assert (blend[:, 365 + pair.feather :] == 0).all()


@pytest.mark.parametrize(("size", "expected"), [((512, 512), 16), ((720, 360), 11), ((100, 100), 4)])
def test_default_feather(size: tuple[int, int], expected: int) -> None:
    assert default_feather(size) == expected
    pair = prepare_inpaint_mask(rect_mask(size, (0, 0, size[0] // 2, size[1])), size)
    assert pair.feather == expected


def test_feather_ramp() -> None:
    size, edge, feather = (200, 100), 80, 10
    pair = prepare_inpaint_mask(rect_mask(size, (0, 0, edge, 100)), size, feather=feather)
    blend = arr(pair.blend).astype(int)
    generate = arr(pair.generate)
    row = blend[50]
    assert (row[:edge] == 255).all()  # inside the user's mask
    ramp = row[edge - 1 : edge + feather + 1]
    assert (np.diff(ramp) <= 0).all()  # monotonic fall-off
    assert (np.diff(ramp[1:-1]) < 0).all()  # …and actually ramping, not a step
    assert 0 < row[edge] < 255 and row[edge + feather] == 0
    assert (blend[:, edge + feather :] == 0).all()  # exactly 0 farther out
    # generate = mask dilated by the feather, binary, and covers everything the blend touches
    assert set(np.unique(generate)) == {0, 255}
    assert (generate[:, : edge + feather] == 255).all() and (generate[:, edge + feather + 1 :] == 0).all()
    assert (generate[blend > 0] == 255).all()


def test_feather_is_round_around_a_point() -> None:
    pair = prepare_inpaint_mask(rect_mask((101, 101), (50, 50, 51, 51)), (101, 101), feather=20)
    blend = arr(pair.blend)
    generate = arr(pair.generate)
    assert generate[50, 70] == 255 and generate[50, 71] == 0  # 20 px along an axis
    assert generate[64, 64] == 255 and generate[65, 65] == 0  # √(14²+14²) ≈ 19.8, √(15²+15²) ≈ 21.2
    assert blend[50, 60] > blend[50, 65] > blend[50, 69] > 0


def test_full_coverage_allowed_with_warning() -> None:
    pair = prepare_inpaint_mask(Image.new("L", (64, 64), 255), (64, 64))
    assert len(pair.warnings) == 1 and "img2img" in pair.warnings[0]
    assert (arr(pair.blend) == 255).all()
    half = prepare_inpaint_mask(rect_mask((64, 64), (0, 0, 32, 64)), (64, 64))
    assert half.warnings == ()


def test_mask_pair_is_frozen() -> None:
    pair = prepare_inpaint_mask(rect_mask((64, 64), (0, 0, 32, 64)), (64, 64))
    with pytest.raises(AttributeError):
        pair.warnings = ("x",)  # type: ignore[misc]


def test_composite_keeps_original_where_blend_is_zero() -> None:
    size = (160, 120)
    original, generated = random_rgb(size, 1), random_rgb(size, 2)
    pair = prepare_inpaint_mask(rect_mask(size, (40, 30, 100, 80)), size)
    out = arr(composite(original, generated, pair.blend))
    blend = arr(pair.blend)
    assert (blend == 0).sum() > 0 and (blend == 255).sum() > 0 and ((blend > 0) & (blend < 255)).sum() > 0
    assert (out[blend == 0] == arr(original)[blend == 0]).all()
    assert (out[blend == 255] == arr(generated)[blend == 255]).all()
    partial = (blend > 0) & (blend < 255)
    lo = np.minimum(arr(original), arr(generated))[partial]
    hi = np.maximum(arr(original), arr(generated))[partial]
    assert ((out[partial] >= lo) & (out[partial] <= hi)).all()


def test_composite_rejects_size_mismatch() -> None:
    with pytest.raises(ValueError, match="sizes differ"):
        composite(Image.new("RGB", (10, 10)), Image.new("RGB", (10, 12)), Image.new("L", (10, 10)))


@pytest.mark.parametrize("seed", range(3))
def test_distance_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    selected = rng.random((23, 31)) < 0.02
    selected[11, 15] = True
    limit = 6
    got = distance_to(selected, limit)
    ys, xs = np.nonzero(selected)
    yy, xx = np.mgrid[0:23, 0:31]
    brute = np.sqrt(((yy[..., None] - ys) ** 2 + (xx[..., None] - xs) ** 2).min(axis=-1))
    near = brute <= limit
    assert np.allclose(got[near], brute[near])
    assert np.isinf(got[~near]).all()


def test_composite_rounds_to_nearest() -> None:
    original = Image.new("RGB", (8, 8), (0, 0, 100))
    generated = Image.new("RGB", (8, 8), (1, 255, 200))
    out = composite(original, generated, Image.new("L", (8, 8), 128))
    assert out.getpixel((0, 0)) == (1, 128, 150)  # 0.502·1 → 1, 0.502·255 → 128, 100 + 0.502·100 → 150


@pytest.mark.parametrize("seed", range(6))
def test_feathering_in_a_window_equals_feathering_everywhere(seed: int) -> None:
    """The selection's box grown by the feather holds every non-zero pixel: same masks, less work."""
    rng = np.random.default_rng(seed)
    selected = np.zeros((90, 120), bool)
    for _ in range(rng.integers(1, 4)):
        y, x = rng.integers(0, 90), rng.integers(0, 120)
        selected[y : y + rng.integers(1, 30), x : x + rng.integers(1, 30)] = True
    feather = int(rng.integers(1, 12))
    generate, blend = feathered_masks(selected, feather)
    full_generate, full_blend = _feather_window(selected, feather)
    assert np.array_equal(generate, full_generate) and np.array_equal(blend, full_blend)
