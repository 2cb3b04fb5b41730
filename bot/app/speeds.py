"""``LIKENESS_SPEED_SD15`` / ``LIKENESS_SPEED_SDXL`` and a LIKENESS_MODELS entry's ``distilled``, read
strictly: a bad value stops start-up naming it.

A family's setting is a preset's name (``bot.engine.speed.PRESETS``: lcm, hyper-sd, lightning),
``none`` (fast and turbo refused on that family), or a JSON object naming the LoRA of each speed:
``{"fast": {"lora": "/loras/my-lcm.safetensors", "sampler": "LCM"}, "turbo": {...}}`` (keys ``lora``,
``weight_name``, ``sampler``, ``schedule``, ``weight``, and ``name``, what the PNG calls it). A
distilled checkpoint says its own rule:
``{"sampler": "Euler", "schedule": "SGM Uniform", "steps": 4, "cfg": 1}`` (``max_steps``,
``max_cfg`` optional).
"""

from __future__ import annotations

import json
from typing import Any

from bot.choices import AUTOMATIC, SAMPLER_SCHEDULES, Speed
from bot.engine.family import Family
from bot.engine.speed import PRESETS, Accelerator
from bot.params import CFG_RANGE, STEPS_RANGE, SpeedRule

DISABLED = frozenset({"none", "off", ""})
_LORA_KEYS = frozenset({"lora", "weight_name", "sampler", "schedule", "weight", "name"})
_DISTILLED_KEYS = frozenset({"sampler", "schedule", "steps", "cfg", "max_steps", "max_cfg"})
_FEW = (Speed.FAST.value, Speed.TURBO.value)


def accelerators_setting(text: str, family: Family) -> dict[str, Accelerator]:
    """Speed -> its LoRA for ``family``; ``ValueError`` names what is wrong."""
    value = text.strip()
    if value.lower() in DISABLED:
        return {}
    presets = PRESETS[family]
    if value.lower() in presets:
        return dict(presets[value.lower()])
    if not value.startswith("{"):
        raise ValueError(f"choose one of {', '.join(presets)}, none, or a JSON object of fast and turbo")
    given = json.loads(value)
    if not isinstance(given, dict) or not given or set(given) - set(_FEW):
        raise ValueError("the JSON object's keys are fast and turbo, each an object with its lora")
    return {speed: _accelerator(speed, spec) for speed, spec in given.items()}


def _accelerator(speed: str, spec: Any) -> Accelerator:
    if not isinstance(spec, dict) or set(spec) - _LORA_KEYS or not isinstance(spec.get("lora"), str):
        raise ValueError(
            f"{speed}: give an object with lora (and {', '.join(sorted(_LORA_KEYS - {'lora'}))})"
        )
    sampler, schedule = _sampler(speed, spec.get("sampler", "LCM"), spec.get("schedule"))
    weight = spec.get("weight", 1.0)
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 < weight <= 2:
        raise ValueError(f"{speed}: weight must be a number above 0 and at most 2 (got {weight!r})")
    location = spec["lora"].strip()
    file = str(spec.get("weight_name") or "").removesuffix(".safetensors")
    generic = file in ("", "pytorch_lora_weights")  # diffusers' own file name: the repository names it
    name = location.replace("\\", "/").rstrip("/").split("/")[-1].removesuffix(".safetensors")
    return Accelerator(
        spec.get("name") or (name if generic else file),
        location,
        spec.get("weight_name"),
        sampler,
        schedule,
        float(weight),
    )


def _sampler(what: str, sampler: Any, schedule: Any) -> tuple[str, str]:
    if sampler not in SAMPLER_SCHEDULES:
        raise ValueError(f"{what}: unknown sampler {sampler!r}; choose one of {', '.join(SAMPLER_SCHEDULES)}")
    taken = SAMPLER_SCHEDULES[sampler]
    if schedule in (None, AUTOMATIC):
        return sampler, taken[0]
    if schedule not in taken:
        raise ValueError(f"{what}: the {sampler} sampler takes the schedules {', '.join(taken)}")
    return sampler, str(schedule)


def distilled_entry(name: str, spec: Any) -> SpeedRule:
    """A LIKENESS_MODELS entry's ``distilled`` as the rule every speed runs it with."""
    what = f"model {name!r}: distilled"
    if (
        not isinstance(spec, dict)
        or set(spec) - _DISTILLED_KEYS
        or "steps" not in spec
        or "sampler" not in spec
    ):
        raise ValueError(
            f"{what} is an object with sampler and steps (and schedule, cfg, max_steps, max_cfg)"
        )
    sampler, schedule = _sampler(what, spec["sampler"], spec.get("schedule"))
    steps, cfg = spec["steps"], spec.get("cfg", 1.0)
    most_steps, most_cfg = spec.get("max_steps", steps * 2), spec.get("max_cfg", max(2.0, cfg))
    for key, value, (low, high), whole in (
        ("steps", steps, STEPS_RANGE, True),
        ("max_steps", most_steps, STEPS_RANGE, True),
        ("cfg", cfg, CFG_RANGE, False),
        ("max_cfg", most_cfg, CFG_RANGE, False),
    ):
        kind = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            raise ValueError(f"{what}: {key} must be a {'whole ' if whole else ''}number {low:g}–{high:g}")
    if most_steps < steps or most_cfg < cfg:
        raise ValueError(f"{what}: max_steps and max_cfg are at least steps and cfg")
    return SpeedRule(
        steps, float(cfg), most_steps, float(most_cfg), sampler, schedule, what="this checkpoint"
    )
