"""Model families (SD 1.5, SDXL): told apart from the loaded pipeline, each with its own defaults.

A user sets only ``LIKENESS_MODEL``; the family it turns out to be decides the adapter files to load,
the aspect-ratio buckets a new image is made at, and which text encoders read the prompt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.choices import Structure


class Family(StrEnum):
    SD15 = "sd15"
    SDXL = "sdxl"

    @property
    def label(self) -> str:
        return {Family.SD15: "SD 1.5", Family.SDXL: "SDXL"}[self]


@dataclass(frozen=True, slots=True)
class AdapterDefaults:
    """The h94 file names of a family's IP-Adapter (image prompt) and IP-Adapter FaceID."""

    ip_adapter_subfolder: str
    ip_adapter_weight: str
    faceid_subfolder: str
    faceid_weight: str


ADAPTERS = {
    Family.SD15: AdapterDefaults("models", "ip-adapter_sd15.safetensors", "", "ip-adapter-faceid_sd15.bin"),
    Family.SDXL: AdapterDefaults("sdxl_models", "ip-adapter_sdxl.bin", "", "ip-adapter-faceid_sdxl.bin"),
}

# The common ControlNets of each family: what ``LIKENESS_CONTROLNET_CANNY``/``_DEPTH`` "auto" loads.
CONTROLNETS: dict[Family, dict[str, str]] = {
    Family.SD15: {
        Structure.CANNY: "lllyasviel/control_v11p_sd15_canny",
        Structure.DEPTH: "lllyasviel/control_v11f1p_sd15_depth",
    },
    Family.SDXL: {
        Structure.CANNY: "diffusers/controlnet-canny-sdxl-1.0",
        Structure.DEPTH: "diffusers/controlnet-depth-sdxl-1.0",
    },
}

# SDXL was trained on these sizes (at its native 1024 px); a new image is made at the closest one.
SDXL_BUCKETS: tuple[tuple[int, int], ...] = (
    (1024, 1024),
    (1152, 896),
    (896, 1152),
    (1216, 832),
    (832, 1216),
    (1344, 768),
    (768, 1344),
    (1536, 640),
    (640, 1536),
)
SDXL_NATIVE = 1024


def family_of(pipe: Any) -> Family:
    """SDXL pipelines carry a second text encoder (OpenCLIP bigG); SD 1.5 has one."""
    return Family.SDXL if getattr(pipe, "text_encoder_2", None) is not None else Family.SD15


def bucket_size(family: Family, ratio: float, native: int) -> tuple[int, int] | None:
    """The family's trained size closest to ``ratio``, scaled to ``native`` (sides multiples of 8);
    None where the family has no buckets (SD 1.5 uses its pixel budget at any ratio)."""
    if family is not Family.SDXL:
        return None
    width, height = min(SDXL_BUCKETS, key=lambda wh: abs(math.log(wh[0] / wh[1] / ratio)))
    scale = native / SDXL_NATIVE
    return max(8, round(width * scale / 8) * 8), max(8, round(height * scale / 8) * 8)
