"""A model as one checkpoint file, as model sites ship it: loaded through diffusers' ``from_single_file``.

The family decides the pipeline class, so it is read first: from the config's ``model_index.json``
(``LIKENESS_MODEL_CONFIG``), else from the file's own keys (SDXL checkpoints hold a second text
encoder under ``conditioner.embedders.1``). Offline, diffusers cannot fetch the config a single file
lacks, so ``LIKENESS_MODEL_CONFIG`` names a local diffusers folder (or a hub id already cached).
``.ckpt`` files are pickles: they load only through torch's safe (weights-only) unpickler, and only
on a torch where it is safe (``bot.engine.pickles``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

from bot.engine.config import EngineConfig
from bot.engine.family import Family
from bot.engine.pickles import refuse_pickle
from bot.errors import ModelUnavailable

SUFFIXES = (".safetensors", ".ckpt")
SDXL_KEY = "conditioner.embedders.1."
CLASSES = {Family.SD15: StableDiffusionPipeline, Family.SDXL: StableDiffusionXLPipeline}


def is_single_file(model: str) -> bool:
    return model.strip().lower().endswith(SUFFIXES)


def single_file_family(path: Path, config: str | None) -> Family:
    """The checkpoint's family: what its config says, else what its keys show."""
    if config is not None:
        index = Path(config).expanduser() / "model_index.json"
        if index.is_file():
            name = str(json.loads(index.read_text(encoding="utf-8")).get("_class_name", ""))
            return Family.SDXL if "XL" in name else Family.SD15
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            names = list(handle.keys())  # a safetensors handle is not iterable itself
        return Family.SDXL if any(k.startswith(SDXL_KEY) for k in names) else Family.SD15
    state = torch.load(path, map_location="meta", weights_only=True, mmap=True)
    keys = state.get("state_dict", state).keys()
    return Family.SDXL if any(str(k).startswith(SDXL_KEY) for k in keys) else Family.SD15


def load_single_file(config: EngineConfig, dtype: torch.dtype) -> Any:
    """The checkpoint file as a text-to-image pipeline; ``ModelUnavailable`` naming the setting to fix."""
    path = Path(config.model).expanduser()
    if not path.is_file():
        raise ModelUnavailable(
            f"LIKENESS_MODEL names the checkpoint file {path}, which does not exist: check the path"
        )
    refuse_pickle(path.name, "LIKENESS_MODEL")
    try:
        if (
            path.suffix.lower() == ".ckpt"
        ):  # a pickle: refuse anything but plain weights before diffusers reads it
            torch.load(path, map_location="meta", weights_only=True, mmap=True)
        family = single_file_family(path, config.model_config)
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    options: dict[str, Any] = {"dtype": dtype, "local_files_only": config.offline}
    if config.model_config is not None:
        options["config"] = config.model_config
    try:
        return CLASSES[family].from_single_file(str(path), **options)
    except (OSError, ValueError) as exc:  # the config could not be found (offline) or read
        where = config.model_config or "the hub (to fetch the model's config)"
        raise ModelUnavailable(
            f"cannot load the {family.label} checkpoint {path.name}: its diffusers config was not found in "
            f"{where}. Offline, set LIKENESS_MODEL_CONFIG to a local diffusers folder of the same "
            f"architecture, or a hub id already in the Hugging Face cache ({_first(exc)})"
        ) from exc
    except Exception as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: BaseException) -> ModelUnavailable:
    if path.suffix.lower() == ".ckpt" and "weights_only" in str(exc):
        return ModelUnavailable(
            f"the checkpoint {path.name} holds more than weights (pickled code), so it is not loaded: "
            "convert it to .safetensors, or use a .safetensors copy from the model's page"
        )
    return ModelUnavailable(f"the checkpoint {path.name} cannot be read as a model ({_first(exc)})")


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
