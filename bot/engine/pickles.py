"""Pickle-format weights (``.ckpt``, ``.bin``, ``.pt``, ``.pth``) load only on a torch whose
weights-only unpickler holds: on torch ≤ 2.5.1 ``torch.load(weights_only=True)`` can be made to run
code (CVE-2025-32434), and such files come from model sites and the default IP-Adapter FaceID
weights. ``pyproject.toml`` asks for a newer torch; this refuses the files when an older one is the
one that runs anyway (a torch installed before, kept by ``scripts/setup``), and makes diffusers read
folders as safetensors only. Safetensors files hold no code and load on any torch.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

import torch

from bot.errors import ModelUnavailable

SAFE_FROM = (2, 6)
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth")


def torch_version() -> str:
    """The running torch's version (a function, so a test can stand in an older one)."""
    return str(torch.__version__)


def unpickles_safely(version: str | None = None) -> bool:
    """Whether this torch's ``weights_only`` loader is past CVE-2025-32434 (2.6 and later)."""
    found = re.match(r"(\d+)\.(\d+)", version or torch_version())
    return found is None or (int(found[1]), int(found[2])) >= SAFE_FROM


def is_pickle(name: str) -> bool:
    return PurePath(name).suffix.lower() in PICKLE_SUFFIXES


def why_refused(name: str, setting: str) -> str:
    return (
        f"{name} is a pickle file, and torch {torch_version()} can be made to run code while reading "
        f"one (CVE-2025-32434): install torch 2.6 or newer, or point {setting} at a .safetensors file"
    )


def safetensors_only() -> str:
    return (
        f"torch {torch_version()} reads only .safetensors weights, since its pickle loader can be made "
        "to run code (CVE-2025-32434): install torch 2.6 or newer, or convert the .bin files to "
        ".safetensors"
    )


def refuse_pickle(name: str, setting: str) -> None:
    """``ModelUnavailable`` for a pickle file when the running torch cannot read one safely."""
    if is_pickle(name) and not unpickles_safely():
        raise ModelUnavailable(why_refused(PurePath(name).name, setting))


def folder_options() -> dict[str, Any]:
    """``from_pretrained`` options: on an unsafe torch, diffusers reads safetensors files only."""
    return {} if unpickles_safely() else {"use_safetensors": True}
