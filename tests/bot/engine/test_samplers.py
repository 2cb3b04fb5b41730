"""Samplers and schedule types by their A1111 names, through the real diffusers schedulers: every
pair builds and runs, the PNG names them as A1111 does, and each pair a sampler cannot take, or
LCM without an LCM model or LoRA, is refused before any work with the names that would do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.choices import SAMPLER_SCHEDULES, SAMPLERS
from bot.engine.engine import Engine
from bot.engine.metadata import read_parameters
from bot.engine.samplers import SCHEDULERS, build_scheduler
from bot.errors import InvalidRequest
from bot.options import job_params, split_sampler
from bot.params import LoraUse, Mode, resolve
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import gradient_image, job_request, pixels, save

PAIRS = [(s, schedule) for s, schedules in SAMPLER_SCHEDULES.items() for schedule in schedules]


def run(engine: Engine, **kw: object) -> tuple[np.ndarray, dict[str, str]]:
    base: dict[str, object] = {"prompt": "a lighthouse", "steps": 3, "seed": 7}
    result = engine.generate(job_request(**{**base, **kw}))
    png = result.candidates[0].png
    return pixels(png), read_parameters(png)


def test_every_listed_sampler_has_a_diffusers_scheduler() -> None:
    assert set(SCHEDULERS) == set(SAMPLERS)


@pytest.mark.parametrize(("sampler", "schedule"), [p for p in PAIRS if p[0] != "LCM"])
def test_every_sampler_and_schedule_runs_and_the_png_names_them(
    engine: Engine, sampler: str, schedule: str
) -> None:
    image, fields = run(engine, sampler=sampler, schedule=schedule)
    assert image.std() > 0
    assert (fields["Sampler"], fields["Schedule type"]) == (sampler, schedule)


def test_automatic_is_the_samplers_own_schedule_and_the_default_is_dpmpp_2m_karras(engine: Engine) -> None:
    default, fields = run(engine)
    assert (fields["Sampler"], fields["Schedule type"]) == ("DPM++ 2M", "Karras")
    assert np.array_equal(run(engine, sampler="DPM++ 2M", schedule="Automatic")[0], default)
    assert np.array_equal(run(engine, sampler="DPM++ 2M", schedule="Karras")[0], default)
    assert run(engine, sampler="DPM++ 2M SDE")[1]["Schedule type"] == "Exponential"


def test_samplers_and_schedules_change_the_picture_and_repeat_it(engine: Engine) -> None:
    euler, euler_a = run(engine, sampler="Euler")[0], run(engine, sampler="Euler a")[0]
    assert not np.array_equal(euler, euler_a)
    assert not np.array_equal(euler, run(engine, sampler="Euler", schedule="Karras")[0])
    for sampler in ("Euler a", "DPM++ SDE", "DPM++ 2M SDE"):  # the stochastic ones, from the seed
        assert np.array_equal(run(engine, sampler=sampler)[0], run(engine, sampler=sampler)[0]), sampler


def test_img2img_runs_with_a_multistep_sampler(engine: Engine, tmp_path: Path) -> None:
    source = save(gradient_image(96, 64), tmp_path / "source.png")
    image, fields = run(engine, mode=Mode.IMG2IMG, image=source, sampler="UniPC", strength=0.5, steps=4)
    assert fields["Sampler"] == "UniPC" and image.shape[:2] == (64, 96)


def test_the_models_own_scheduler_is_back_after_each_job(engine: Engine) -> None:
    own = engine.pipes.text.scheduler
    run(engine, sampler="Heun")
    assert engine.pipes.text.scheduler is own
    assert all(pipe.scheduler is own for pipe in engine.pipes.unet_pipes)


def test_a_schedule_the_sampler_cannot_take_names_the_ones_it_can() -> None:
    with pytest.raises(
        InvalidRequest,
        match="the Euler a sampler does not take the Karras schedule: choose Automatic, Uniform, SGM Uniform",
    ):
        resolve(job_params({"prompt": "x", "sampler": "Euler a", "schedule": "Karras"}, image=False))


def test_an_unknown_sampler_names_the_samplers() -> None:
    with pytest.raises(InvalidRequest, match=r"sampler .*DPM\+\+ 2M, DPM\+\+ 2M SDE, .*, LCM"):
        resolve(job_params({"prompt": "x", "sampler": "DPM fast"}, image=False))


def test_lcm_needs_an_lcm_model_or_lora(engine: Engine, tiny_bundle: TinyBundle) -> None:
    with pytest.raises(InvalidRequest, match="the LCM sampler needs an LCM model or LoRA"):
        run(engine, sampler="LCM")
    assert engine.loras.folder is not None
    lcm = engine.loras.folder / "lcm-lora-tiny.safetensors"
    lcm.write_bytes((tiny_bundle.lora_dir / "ink.safetensors").read_bytes())
    try:
        _, fields = run(engine, sampler="LCM", cfg=1.0, loras=(LoraUse("lcm-lora-tiny"),))
        assert fields["Sampler"] == "LCM"
    finally:
        lcm.unlink()


@pytest.mark.parametrize(
    ("typed", "split"),
    [
        ("DPM++ 2M Karras", ("DPM++ 2M", "Karras")),
        ("dpm++ 2m  sde exponential", ("DPM++ 2M SDE", "Exponential")),
        ("DPM2 a", ("DPM2 a", None)),
        ("Euler a SGM Uniform", ("Euler a", "SGM Uniform")),
        ("DPM++ 2M Bogus", ("DPM++ 2M", "Bogus")),
        ("DPM fast", ("DPM fast", None)),
    ],
)
def test_a1111s_combined_names_split_into_sampler_and_schedule(
    typed: str, split: tuple[str, str | None]
) -> None:
    assert split_sampler(typed) == split


def test_a_scheduler_keeps_the_models_training_schedule(engine: Engine) -> None:
    config = engine.pipes.scheduler_config
    built = build_scheduler(config, "Euler", "Karras", 1)
    for key in ("beta_start", "beta_end", "beta_schedule", "prediction_type", "steps_offset"):
        assert built.config[key] == config[key], key
    assert built.config.use_karras_sigmas is True
