"""Speed modes through the real pipelines: fast and turbo add the family's acceleration LoRA (the
tiny bundle's, in the public files' layout) with its sampler, steps and CFG; a user LoRA combines
with it; neither leaks into the next job; a distilled checkpoint runs its own rule."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from bot.app.settings import load_settings
from bot.choices import Speed
from bot.engine.checks import Capabilities, check_inputs
from bot.engine.engine import Engine
from bot.engine.family import Family
from bot.engine.metadata import read_parameters
from bot.engine.samplers import SCHEDULERS
from bot.errors import InvalidRequest
from bot.params import SPEED_RULES, JobParams, LoraUse, Mode, SpeedRule, resolve
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import gradient_image, job_request, pixels, png_bytes


class SchedulerSpy:
    """What each denoising call ran with: its scheduler class and options, steps and guidance."""

    def __init__(self, engine: Engine) -> None:
        self.calls: list[dict[str, Any]] = []
        self.engine = engine

    def watch(self, pipe: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        original = type(pipe).__call__
        calls = self.calls

        def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(
                {
                    "scheduler": type(self.scheduler).__name__,
                    "spacing": self.scheduler.config.get("timestep_spacing"),
                    "steps": kwargs["num_inference_steps"],
                    "cfg": kwargs["guidance_scale"],
                    "adapters": dict(zip(*_active(self), strict=True)),
                }
            )
            return original(self, *args, **kwargs)

        monkeypatch.setattr(type(pipe), "__call__", spy)


def _active(pipe: Any) -> tuple[list[str], list[float]]:
    """The adapters set on the UNet now, with their weights (none while LoRAs are disabled), read
    from a layer every LoRA of the bundle covers."""
    if not getattr(pipe.unet, "peft_config", None):
        return [], []
    layer = next(
        m for n, m in pipe.unet.named_modules() if n.endswith("attn1.to_q") and hasattr(m, "scaling")
    )
    if layer.disable_adapters:
        return [], []
    names = list(layer.active_adapters)
    return names, [float(layer.scaling[n]) / (layer.lora_alpha[n] / layer.r[n]) for n in names]


@pytest.fixture(scope="module")
def engine(tiny_bundle: TinyBundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("speed") / "loras"
    shutil.copytree(tiny_bundle.lora_dir, folder)
    settings = load_settings(tiny_bundle.env_file)
    yield Engine.load(replace(settings.engine_config, lora_dir=folder))


def run(engine: Engine, **options: Any) -> Any:
    return engine.generate(job_request(prompt="a cat", seed=3, **options))


def image(engine: Engine, **options: Any) -> np.ndarray:
    return pixels(run(engine, **options).candidates[0].png)


@pytest.mark.parametrize("speed", [Speed.FAST, Speed.TURBO])
def test_fast_and_turbo_run_the_lcm_lora_with_its_sampler_steps_and_cfg(
    engine: Engine, speed: Speed, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = SchedulerSpy(engine)
    spy.watch(engine.pipes.text, monkeypatch)
    result = run(engine, speed=speed.value)
    rule = SPEED_RULES[speed]
    [call] = spy.calls
    assert call["scheduler"] == SCHEDULERS["LCM"][0]
    assert (call["steps"], call["cfg"]) == (rule.steps, rule.cfg)
    assert len(call["adapters"]) == 1 and list(call["adapters"].values()) == [pytest.approx(1.0)]
    png = read_parameters(result.candidates[0].png)
    assert png["Speed"] == speed.value and png["Sampler"] == "LCM"
    assert png["Steps"] == str(rule.steps) and png["CFG scale"] == f"{rule.cfg:g}"
    assert png["Speed LoRA"] == "lcm-lora-sdv1-5" and "lcm-lora-sdv1-5" in png["Lora hashes"]
    assert result.params.speed == speed.value


def test_quality_runs_the_model_as_it_is(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = SchedulerSpy(engine)
    spy.watch(engine.pipes.text, monkeypatch)
    result = run(engine, steps=2)
    [call] = spy.calls
    assert call["adapters"] == {} and call["cfg"] == 7.0 and call["scheduler"] != "LCMScheduler"
    png = read_parameters(result.candidates[0].png)
    assert png["Speed"] == "quality" and "Speed LoRA" not in png


def test_a_user_lora_combines_with_the_acceleration_lora_and_neither_leaks(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = image(engine, steps=2)
    fast = image(engine, speed="fast", steps=2)
    spy = SchedulerSpy(engine)
    spy.watch(engine.pipes.text, monkeypatch)
    both = image(engine, speed="fast", steps=2, loras=(LoraUse("ink", 0.7),))
    assert sorted(spy.calls[-1]["adapters"].values()) == [pytest.approx(0.7), pytest.approx(1.0)]
    assert not np.array_equal(both, fast)
    styled = image(engine, steps=2, loras=(LoraUse("ink", 0.7),))  # quality: the user's LoRA alone
    assert list(spy.calls[-1]["adapters"].values()) == [pytest.approx(0.7)]
    assert not np.array_equal(styled, both)
    assert np.array_equal(image(engine, steps=2), plain)  # bit for bit: nothing fused, nothing left on
    assert np.array_equal(image(engine, speed="fast", steps=2), fast)
    assert engine.active_loras.loads == 2  # the acceleration LoRA and ink, each read once


def test_img2img_at_low_strength_still_runs_one_step_and_says_so(engine: Engine) -> None:
    source = png_bytes(gradient_image(64, 64))
    result = engine.generate(
        job_request(prompt="a cat", seed=2, image=source, mode=Mode.IMG2IMG, strength=0.2, speed="turbo")
    )
    assert result.params.steps == 5  # turbo's 4 × 0.2 runs none; 5 × 0.2 runs one
    assert any("strength × steps is at least one" in w for w in result.warnings)


def test_turbo_says_the_negative_prompt_is_not_read(engine: Engine) -> None:
    result = run(engine, speed="turbo", negative="blurry")
    assert any("negative prompt was not read" in w for w in result.warnings)
    assert not any("negative" in w for w in run(engine, speed="fast", negative="blurry").warnings)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"speed": "turbo", "steps": 30}, "speed turbo runs 4 steps"),
        ({"speed": "fast", "cfg": 7.0}, "CFG 7 burns the image. Choose CFG 3 or less, or speed quality"),
        ({"speed": "fast", "schedule": "Karras"}, "does not take the Karras schedule"),
    ],
)
def test_what_a_few_step_speed_cannot_take_is_refused_with_the_fix(
    engine: Engine, options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidRequest, match=expected):
        run(engine, **options)


def test_a_speed_the_family_has_no_lora_for_is_refused(engine: Engine) -> None:
    bare = Engine(engine.pipes, "bare")
    with pytest.raises(
        InvalidRequest, match=r"speed fast is not set up for SD 1\.5 models .*LIKENESS_SPEED_SD15"
    ):
        bare.generate(job_request(prompt="a cat", speed="fast"))


def test_a_distilled_checkpoint_runs_its_own_rule_without_a_lora(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    distilled = Engine(engine.pipes, "turbo-model")
    distilled.active_loras = engine.active_loras  # one set of pipelines, one record of what is on them
    distilled.defaults = replace(
        distilled.defaults,
        distilled_model=SpeedRule(3, 1.0, 6, 2.0, "Euler a", "SGM Uniform", "this checkpoint"),
    )
    spy = SchedulerSpy(distilled)
    spy.watch(engine.pipes.text, monkeypatch)
    for speed in ("quality", "turbo"):
        result = distilled.generate(job_request(prompt="a cat", seed=1, speed=speed))
        assert result.params.sampler == "Euler a" and result.params.steps == 3
    assert [(c["scheduler"], c["spacing"], c["steps"], c["adapters"]) for c in spy.calls] == [
        ("EulerAncestralDiscreteScheduler", "trailing", 3, {})
    ] * 2
    with pytest.raises(InvalidRequest, match="this distilled model runs 3 steps"):
        distilled.generate(job_request(prompt="a cat", steps=20))


def test_the_sdxl_bundle_runs_lightning_on_trailing_euler(
    tiny_sdxl_bundle: TinyBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdxl = Engine.load(load_settings(tiny_sdxl_bundle.env_file).engine_config)
    spy = SchedulerSpy(sdxl)
    spy.watch(sdxl.pipes.text, monkeypatch)
    names = []
    for speed in ("fast", "turbo"):
        result = sdxl.generate(job_request(prompt="a cat", seed=1, speed=speed, aspect="1:1"))
        names.append(read_parameters(result.candidates[0].png)["Speed LoRA"])
    assert names == ["sdxl_lightning_8step_lora", "sdxl_lightning_4step_lora"]
    assert [(c["scheduler"], c["spacing"], c["steps"]) for c in spy.calls] == [
        ("EulerDiscreteScheduler", "trailing", 8),
        ("EulerDiscreteScheduler", "trailing", 4),
    ]
    assert [len(c["adapters"]) for c in spy.calls] == [1, 1]  # the 4-step LoRA replaces the 8-step one
    assert sdxl.active_loras.loads == 2


def test_the_bundle_holds_the_public_layouts(tiny_bundle: TinyBundle) -> None:
    lcm = tiny_bundle.root / "lcm-lora-sdv1-5" / "pytorch_lora_weights.safetensors"
    lightning = tiny_bundle.root / "SDXL-Lightning"
    assert lcm.is_file()
    assert sorted(p.name for p in lightning.iterdir()) == [
        "sdxl_lightning_4step_lora.safetensors",
        "sdxl_lightning_8step_lora.safetensors",
    ]
    from safetensors import safe_open

    with safe_open(str(lcm), framework="pt") as handle:
        keys = list(handle.keys())
    assert all(k.startswith("lora_unet_") for k in keys)  # UNet only, kohya keys, as published
    assert {k.rsplit(".", 2)[-2] if k.endswith("weight") else "alpha" for k in keys} >= {
        "lora_down",
        "lora_up",
    }


def test_a_speed_no_family_has_is_refused_before_the_queue(tiny_bundle: TinyBundle) -> None:
    """At submission the family may not be known yet: refused when no family has the speed."""
    config = load_settings(tiny_bundle.env_file).engine_config
    caps = Capabilities.of(replace(config, accelerators={Family.SDXL: config.accelerators[Family.SDXL]}))
    params = resolve(JobParams(prompt="a boat", speed="fast"))
    check_inputs(params, caps, image=False, mask=False, identity=None)  # SDXL has it: the family decides
    with pytest.raises(InvalidRequest, match=r"speed fast is not set up for SD 1\.5 models"):
        check_inputs(params, replace(caps, family=Family.SD15), image=False, mask=False, identity=None)
    with pytest.raises(InvalidRequest, match=r"not set up for any models .*LIKENESS_SPEED_SD15/_SDXL"):
        check_inputs(params, replace(caps, speeds=frozenset()), image=False, mask=False, identity=None)
    check_inputs(
        params, replace(caps, speeds=frozenset(), distilled=True), image=False, mask=False, identity=None
    )
