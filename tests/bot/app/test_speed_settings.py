"""LIKENESS_DEFAULT_SPEED, LIKENESS_SPEED_SD15 / _SDXL and a LIKENESS_MODELS entry's ``distilled``:
presets by name, JSON per speed, none; every fault one line naming the setting."""

from __future__ import annotations

import json

import pytest

from bot.app.settings import load_settings
from bot.engine.family import Family
from bot.errors import SettingsInvalid


def settings(**values: object):  # type: ignore[no-untyped-def]
    return load_settings(None, **values)


def test_the_defaults_are_the_common_public_loras() -> None:
    s = settings()
    assert s.defaults.speed == "quality"
    sd15, sdxl = s.accelerators[Family.SD15], s.accelerators[Family.SDXL]
    assert {a.location for a in sd15.values()} == {"latent-consistency/lcm-lora-sdv1-5"}
    assert {a.sampler for a in sd15.values()} == {"LCM"}
    assert (sdxl["fast"].location, sdxl["fast"].weight_name) == (
        "ByteDance/SDXL-Lightning",
        "sdxl_lightning_8step_lora.safetensors",
    )
    assert (sdxl["turbo"].weight_name, sdxl["turbo"].sampler, sdxl["turbo"].schedule) == (
        "sdxl_lightning_4step_lora.safetensors",
        "Euler",
        "SGM Uniform",
    )
    assert s.engine_config.accelerators == s.accelerators


def test_presets_json_and_none() -> None:
    hyper = settings(speed_sd15="hyper-sd").accelerators[Family.SD15]
    assert (hyper["turbo"].weight_name, hyper["turbo"].sampler) == (
        "Hyper-SD15-4steps-lora.safetensors",
        "DDIM",
    )
    assert settings(speed_sdxl="none").accelerators[Family.SDXL] == {}
    own = json.dumps({"fast": {"lora": "/loras/my-lcm.safetensors", "sampler": "LCM", "weight": 0.8}})
    mine = settings(speed_sd15=own).accelerators[Family.SD15]
    assert set(mine) == {"fast"} and (mine["fast"].name, mine["fast"].weight) == ("my-lcm", 0.8)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"default_speed": "warp"}, "LIKENESS_DEFAULT_SPEED='warp'"),
        ({"speed_sd15": "lightning"}, "LIKENESS_SPEED_SD15='lightning'.*choose one of lcm, hyper-sd, none"),
        ({"speed_sdxl": '{"slow": {}}'}, "LIKENESS_SPEED_SDXL=.*keys are fast and turbo"),
        (
            {"speed_sdxl": '{"fast": {"lora": "x", "sampler": "Euler", "schedule": "Karras2"}}'},
            "takes the schedules",
        ),
        (
            {"models": {"t": {"model": "org/t", "distilled": {"steps": 4}}}},
            "distilled is an object with sampler",
        ),
        (
            {"models": {"t": {"model": "org/t", "distilled": {"sampler": "Euler", "steps": 0}}}},
            "steps must be",
        ),
    ],
)
def test_each_bad_value_is_one_line_naming_it(values: dict[str, object], expected: str) -> None:
    with pytest.raises(SettingsInvalid, match=expected):
        settings(**values)


def test_a_distilled_checkpoint_is_declared_with_its_sampler_and_steps() -> None:
    s = settings(
        models={
            "photo": "org/photo",
            "lightning": {
                "model": "org/lightning",
                "distilled": {"sampler": "Euler", "schedule": "SGM Uniform", "steps": 4},
            },
        }
    )
    rule = s.models_config.models["lightning"].distilled
    assert rule is not None and (rule.steps, rule.cfg, rule.max_steps, rule.sampler) == (4, 1.0, 8, "Euler")
    assert s.models_config.models["photo"].distilled is None
    assert s.defaults.distilled == {"lightning": rule}
