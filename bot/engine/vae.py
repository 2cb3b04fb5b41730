"""Another VAE in place of the model's own (``LIKENESS_VAE``): a hub id, a diffusers folder (a VAE,
or a whole model whose ``vae/`` is taken) or one file as model sites ship it (``.safetensors``,
``.pt``, ``.ckpt``, in the LDM layout), read with the model's own VAE config.

Set on the text pipeline before the other modes are made from it, so every mode decodes with it.
A VAE made for the other family decodes to noise: its ``scaling_factor`` names the family
(SD 1.5 0.18215, SDXL 0.13025), and one that differs from the model's is refused.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL

from bot.engine.config import EngineConfig
from bot.engine.hashes import checkpoint_hash
from bot.engine.metadata import public_model_name
from bot.engine.pickles import PICKLE_SUFFIXES, folder_options, refuse_pickle
from bot.errors import ModelUnavailable

log = logging.getLogger(__name__)

FILE_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
FAMILY_SCALES = {0.18215: "SD 1.5", 0.13025: "SDXL"}


@dataclass(frozen=True, slots=True)
class VaeChoice:
    """The VAE a model decodes with, as its PNGs name it."""

    name: str  # a hub id or a file's or folder's name, never a path
    hash: str | None  # A1111's ``VAE hash`` of a file; None for a folder or hub id


def load_vae(config: EngineConfig, base: Any, dtype: torch.dtype) -> tuple[Any, VaeChoice]:
    """The configured VAE, checked against the model's (``base``, its text pipeline)."""
    assert config.vae is not None
    source = config.vae
    started = time.perf_counter()
    path = Path(source).expanduser()
    if path.suffix.lower() in FILE_SUFFIXES:
        vae = _from_file(config, path, dtype)
    else:
        vae = _from_folder(config, source, path, dtype)
    _check_family(vae, base, source)
    choice = VaeChoice(public_model_name(source), checkpoint_hash(source))
    log.info(
        "VAE %s in place of the model's own, loaded in %.1f s", choice.name, time.perf_counter() - started
    )
    return vae, choice


def _from_file(config: EngineConfig, path: Path, dtype: torch.dtype) -> Any:
    if not path.is_file():
        raise ModelUnavailable(f"LIKENESS_VAE names the file {path}, which does not exist: check the path")
    refuse_pickle(path.name, "LIKENESS_VAE")
    where = config.model_config if Path(config.model).suffix.lower() in FILE_SUFFIXES else config.model
    try:
        return AutoencoderKL.from_single_file(
            str(path), config=where, subfolder="vae", dtype=dtype, local_files_only=config.offline
        )
    except Exception as exc:
        raise ModelUnavailable(
            f"the VAE file {path.name} cannot be read as a VAE of this model ({_first(exc)}): "
            "give a VAE made for the model's family, or leave LIKENESS_VAE empty"
        ) from exc


def _from_folder(config: EngineConfig, source: str, path: Path, dtype: torch.dtype) -> Any:
    subfolder = "vae" if (path / "vae" / "config.json").is_file() else None
    try:
        return AutoencoderKL.from_pretrained(
            source, subfolder=subfolder, dtype=dtype, local_files_only=config.offline, **folder_options()
        )
    except (OSError, ValueError) as exc:
        hint = (
            "the folder holds no VAE (config.json and its weights, or a vae/ folder)"
            if path.exists()
            else "it is neither a local folder nor in the Hugging Face cache, and the hub cannot be reached"
        )
        raise ModelUnavailable(f"cannot load the VAE {source!r}: {hint} ({_first(exc)})") from exc


def _check_family(vae: Any, base: Any, source: str) -> None:
    ours, theirs = float(base.vae.config.scaling_factor), float(vae.config.scaling_factor)
    if int(vae.config.latent_channels) != int(base.vae.config.latent_channels) or abs(ours - theirs) > 1e-6:
        made_for = FAMILY_SCALES.get(round(theirs, 5), "another model")
        model = FAMILY_SCALES.get(round(ours, 5), "this model")
        raise ModelUnavailable(
            f"the VAE {public_model_name(source)!r} is made for {made_for}, but the model is {model}: "
            f"choose a VAE of the model's family (its scaling factor {theirs:g}, the model's {ours:g})"
        )


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
