"""LIKENESS_STEP_CACHE: off runs exactly as without it, on changes the image in every mode and with
face lock and ControlNet, and nothing of DeepCache stays on the shared UNet after a job."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.engine.acceleration import StepCache
from bot.engine.engine import Engine
from bot.engine.metadata import read_parameters
from bot.jobs import GenerationRequest
from bot.params import Mode
from tests.bot.engine.helpers import EVERY_MODE, box_mask, gradient_image, job_request, pixels, save
from tests.bot.engine.test_face_lock import identity

STEPS = 6  # img2img at its default strength still runs two steps: one whole, one from the cache

CASES: dict[str, dict[str, object]] = {
    **EVERY_MODE,
    "face lock img2img": {"mode": "img2img", "image": "image", "identity": "identity"},
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("step-cache")
    picture = gradient_image(64, 64)
    picture.paste((250, 250, 250), (16, 12, 44, 40))
    return {
        "image": save(picture, folder / "source.png"),
        "mask": save(box_mask(64, 64, (0, 0, 32, 64)), folder / "mask.png"),
        "identity": identity(),
    }


def request(case: str, inputs: dict[str, object]) -> GenerationRequest:
    options: dict[str, object] = {"prompt": "a lighthouse at dusk", "steps": STEPS, "seed": 11}
    for key, value in CASES[case].items():
        options[key] = inputs[value] if isinstance(value, str) and value in inputs else value
    return job_request(**options)


@contextlib.contextmanager
def cache(engine: Engine, level: StepCache) -> Iterator[None]:
    engine.step_cache = level
    try:
        yield
    finally:
        engine.step_cache = StepCache.OFF


def image_of(engine: Engine, req: GenerationRequest) -> np.ndarray:
    return pixels(engine.generate(req).candidates[0].png)


def test_off_gives_the_same_pixels_bit_for_bit_before_and_after_a_cached_job(
    engine: Engine, inputs: dict[str, object]
) -> None:
    req = request("text", inputs)
    assert engine.step_cache is StepCache.OFF  # the default
    before = engine.generate(req).candidates[0]
    with cache(engine, StepCache.MEDIUM):
        cached = image_of(engine, req)
    after = engine.generate(req).candidates[0]
    assert np.array_equal(pixels(after.png), pixels(before.png))
    assert not np.array_equal(cached, pixels(before.png))
    assert "Step cache" not in read_parameters(after.png)
    # DeepCache's wrappers are all gone: every module's forward is its class's own again
    unet = engine.pipes.text.unet
    assert [name for name, m in unet.named_modules() if "forward" in m.__dict__] == []


@pytest.mark.parametrize("case", list(CASES))
def test_on_changes_the_image_in_every_mode(engine: Engine, inputs: dict[str, object], case: str) -> None:
    req = request(case, inputs)
    off = image_of(engine, req)
    with cache(engine, StepCache.MEDIUM):
        result = engine.generate(req)
        again = image_of(engine, req)
    on = pixels(result.candidates[0].png)
    assert on.shape == off.shape
    assert not np.array_equal(on, off), f"{case}: the cache changed nothing"
    assert np.array_equal(on, again), f"{case}: a cached job is not reproducible"
    assert read_parameters(result.candidates[0].png)["Step cache"] == "medium"


def test_stronger_levels_reuse_more_steps(engine: Engine, inputs: dict[str, object]) -> None:
    req = request("text", inputs)
    off = image_of(engine, req)
    changes = []
    for level in (StepCache.LIGHT, StepCache.STRONG):
        with cache(engine, level):
            changes.append(np.abs(image_of(engine, req).astype(int) - off).mean())
    assert 0 < changes[0] < changes[1]
    assert [level.interval for level in StepCache] == [1, 2, 3, 5]


def test_the_inpainting_models_own_unet_is_cached_too(tmp_path: Path, tiny_bundle) -> None:  # type: ignore[no-untyped-def]
    from bot.app.settings import load_settings

    config = load_settings(tiny_bundle.env_file, inpaint_model=str(tiny_bundle.inpaint_model)).engine_config
    own = Engine.load(config)
    assert own.pipes.extra_unets
    req = job_request(
        prompt="a door",
        mode=Mode.INPAINT,
        steps=STEPS,
        seed=3,
        image=save(gradient_image(64, 64), tmp_path / "s.png"),
        mask=save(box_mask(64, 64, (0, 0, 32, 64)), tmp_path / "m.png"),
    )
    off = image_of(own, req)
    with cache(own, StepCache.MEDIUM):
        on = image_of(own, req)
    assert not np.array_equal(on, off)
    assert np.array_equal(image_of(own, req), off)
