"""LIKENESS_VRAM: low runs every mode through diffusers' offload hooks (on the CPU too), ControlNet
pipelines made later included; auto reads the card and logs its choice; refusals are one line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from bot.app.settings import load_settings
from bot.engine import vram
from bot.engine.acceleration import Vram
from bot.engine.engine import Engine
from bot.errors import SettingsInvalid
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import EVERY_MODE, box_mask, gradient_image, job_request, pixels, save
from tests.bot.engine.test_face_lock import identity

STEPS = 3
MODES = EVERY_MODE


@pytest.fixture(scope="module")
def low(tiny_bundle: TinyBundle) -> Iterator[Engine]:
    yield Engine.load(load_settings(tiny_bundle.env_file, vram="low").engine_config)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("vram")
    return {
        "image": save(gradient_image(64, 64), folder / "source.png"),
        "mask": save(box_mask(64, 64, (0, 0, 32, 64)), folder / "mask.png"),
        "identity": identity(),
    }


def request(mode: str, inputs: dict[str, object]):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"prompt": "a red boat", "steps": STEPS, "seed": 5}
    for key, value in MODES[mode].items():
        options[key] = inputs[value] if isinstance(value, str) and value in inputs else value
    return job_request(**options)


def test_low_puts_offload_hooks_and_vae_tiling_on_every_modes_pipeline(low: Engine) -> None:
    pipes = low.pipes
    assert pipes.memory is not None and pipes.memory.low
    for pipe in (pipes.text, pipes.img2img, pipes.inpaint):
        assert pipe._all_hooks, "no offload hooks on a mode's pipeline"
        assert pipe.vae.use_tiling and pipe.vae.use_slicing
    for name in ("text_encoder", "image_encoder", "unet", "vae"):
        assert type(getattr(pipes.text, name)._hf_hook).__name__ == "CpuOffload", name


@pytest.mark.parametrize("mode", list(MODES))
def test_low_runs_every_mode_and_matches_high_on_the_cpu(
    low: Engine, engine: Engine, inputs: dict[str, object], mode: str
) -> None:
    """On the CPU offloading moves nothing, so an image is the one ``high`` makes, within a level
    (the image prompt's encoder path rounds differently). Outpaint's canvas is wider than the tiny
    VAE's tile, so it is decoded in tiles there: the same size, other pixels at the seams."""
    req = request(mode, inputs)
    image = pixels(low.generate(req).candidates[0].png)
    high = pixels(engine.generate(req).candidates[0].png)
    assert image.shape == high.shape
    vae = low.pipes.text.vae
    if max(image.shape[:2]) > vae.tile_sample_min_size:
        assert mode == "outpaint" and not np.array_equal(image, high)
    else:
        assert np.abs(image.astype(int) - high).max() <= 1, mode
    if mode == "structure":
        assert low.structure is not None
        derived = low.structure.pipeline("canny", "img2img")
        assert derived._all_hooks and hasattr(derived.controlnet, "_hf_hook")


def test_auto_reads_the_card_and_logs_what_it_chose(caplog: pytest.LogCaptureFixture, engine: Engine) -> None:
    cuda, pipe = torch.device("cuda"), engine.pipes.text
    need = vram.needed_bytes(pipe, 1024, controlnets=2, extra_unet=False)
    assert need > vram.needed_bytes(pipe, 512, controlnets=0, extra_unet=False)
    small = vram.choose(Vram.AUTO, cuda, need, card=need - 1)
    big = vram.choose(Vram.AUTO, cuda, need, card=need * 2)
    assert small.low and not big.low
    assert "needs about" in small.reason and small.reason.endswith(
        "low (model offload, VAE tiling and slicing)"
    )
    assert big.reason.endswith(": high")
    with caplog.at_level(logging.INFO, logger="bot.engine.vram"):
        chosen = vram.plan_memory(Vram.AUTO, torch.device("cpu"), pipe, 64, 0, False, compiled=False)
    assert not chosen.low and "cpu has no card memory of its own: high" in caplog.text


def test_auto_choosing_offload_under_compile_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    monkeypatch.setattr(vram, "card_bytes", lambda device: 2**20)  # a 1 MB card
    with pytest.raises(SettingsInvalid) as refused:
        vram.plan_memory(Vram.AUTO, torch.device("cuda"), engine.pipes.text, 64, 0, False, compiled=True)
    message = str(refused.value)
    assert "\n" not in message and "LIKENESS_VRAM=auto" in message and "LIKENESS_COMPILE" in message


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"step_cache": "medium", "compile": True}, ("LIKENESS_STEP_CACHE=medium", "LIKENESS_COMPILE=1")),
        ({"vram": "low", "compile": True}, ("LIKENESS_VRAM=low", "LIKENESS_COMPILE=1")),
        ({"compile_mode": "fastest"}, ("LIKENESS_COMPILE_MODE='fastest'",)),
        ({"step_cache": "max"}, ("LIKENESS_STEP_CACHE='max'",)),
        ({"vram": "medium"}, ("LIKENESS_VRAM='medium'",)),
    ],
)
def test_a_bad_combination_is_refused_at_start_in_one_line(
    tmp_path: Path, values: dict[str, object], names: tuple[str, ...]
) -> None:
    with pytest.raises(SettingsInvalid) as refused:
        load_settings(None, model=str(tmp_path), **values).engine_config  # noqa: B018
    message = str(refused.value)
    assert "\n" not in message and all(name in message for name in names), message


def test_the_defaults_are_off_auto_and_uncompiled() -> None:
    accel = load_settings(None).acceleration
    assert (accel.step_cache.value, accel.vram.value, accel.compile) == ("off", "auto", False)
