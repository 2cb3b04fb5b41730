"""``LIKENESS_MODELS`` and ``LIKENESS_MODEL_CACHE`` as written in the environment, read strictly.

An entry is a name and where the model is (a hub id, a diffusers folder or one checkpoint file), or
an object that also overrides, for that model alone, the settings that depend on its files: its
single-file config, inpainting model, VAE, default clip skip, adapters and ControlNets, and
whether it is itself distilled for few steps (``distilled``, ``bot.app.speeds``). Every other
setting is the bot's. An unknown key or a bad value stops start-up naming it.
"""

from __future__ import annotations

import re
from typing import Any

from bot.app.speeds import distilled_entry
from bot.engine.config import ModelBudget

MB = 2**20
NAME = re.compile(r"[A-Za-z0-9][\w.+-]{0,63}")  # typed in Discord, shown in /models and the PNG
TEXT_KEYS = frozenset(
    {
        "model",
        "config",
        "inpaint_model",
        "vae",
        "ip_adapter",
        "ip_adapter_subfolder",
        "ip_adapter_weight",
        "faceid_adapter",
        "faceid_subfolder",
        "faceid_weight",
        "controlnet_canny",
        "controlnet_depth",
    }
)
KEYS = TEXT_KEYS | {"clip_skip", "distilled"}
CLIP_SKIP_RANGE = (1, 12)
_CACHE = re.compile(r"\s*(\d+)\s*(mb|MB|Mb)?\s*")


def model_entry(name: str, spec: str | dict[str, Any]) -> dict[str, Any]:
    """One entry as the overrides it makes (``model`` always among them); ``ValueError`` names the fault."""
    if not NAME.fullmatch(name):
        raise ValueError(
            f"model name {name!r}: letters, digits and - _ . + (up to 64, a letter or digit first)"
        )
    given: dict[str, Any] = {"model": spec} if isinstance(spec, str) else dict(spec)
    unknown = sorted(set(given) - KEYS)
    if unknown:
        raise ValueError(
            f"model {name!r}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(KEYS))}"
        )
    for key in TEXT_KEYS & set(given):
        if not isinstance(given[key], str) or (key == "model" and not given[key].strip()):
            raise ValueError(f"model {name!r}: {key} must be a non-empty text")
    if "model" not in given:
        raise ValueError(f"model {name!r} says no model: give a hub id, a folder or a file")
    skip = given.get("clip_skip")
    if skip is not None and (
        not isinstance(skip, int)
        or isinstance(skip, bool)
        or not CLIP_SKIP_RANGE[0] <= skip <= CLIP_SKIP_RANGE[1]
    ):
        raise ValueError(f"model {name!r}: clip_skip must be a whole number 1–12 (got {skip!r})")
    if "distilled" in given:
        distilled_entry(name, given["distilled"])
    return given


def model_budget(text: str) -> ModelBudget:
    """``2`` keeps two models loaded, ``12000MB`` as many as fit in 12000 MB of weights (at least one)."""
    match = _CACHE.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        raise ValueError("give a count of models (1, 2, …) or megabytes of weights (12000MB)")
    amount = int(match.group(1))
    return ModelBudget(bytes=amount * MB) if match.group(2) else ModelBudget(count=amount)
