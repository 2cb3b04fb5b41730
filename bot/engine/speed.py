"""Speed modes: the acceleration LoRA of each family for ``fast`` and ``turbo``, and its sampler.

A job's speed sets its steps and CFG in ``bot.params`` (``SPEED_RULES``); what depends on the
model's family is here: which LoRA distils the model for those few steps, and the sampler it was
trained with. The defaults are the common public files: LCM-LoRA for SD 1.5 (latent consistency,
the LCM sampler) and SDXL-Lightning for SDXL (its 8- and 4-step LoRAs, Euler on trailing
timesteps); Hyper-SD (ByteDance's 8- and 4-step LoRAs, DDIM on trailing timesteps) for either.

The LoRA goes through the same path as a user's (``bot.engine.loras.ActiveLoras``): loaded once,
cached, never fused, set per job beside the job's own LoRAs, disabled for a job without it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.choices import Speed
from bot.engine.family import Family
from bot.errors import InvalidRequest, ModelUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Accelerator:
    """One few-step LoRA: where it is (a hub id with its file, a folder with its file, or one
    file), its weight, and the sampler and schedule type (A1111's names) it was distilled with."""

    name: str  # what Info and the PNG call it
    location: str
    weight_name: str | None
    sampler: str
    schedule: str
    weight: float = 1.0

    def local_file(self, offline: bool) -> Path:
        """The LoRA file on this machine: a local file or folder as it is, a hub file from the
        Hugging Face cache (downloaded there first unless offline; ``fetch-models`` fetches it)."""
        where = Path(self.location).expanduser()
        if where.is_file():
            return where
        if where.is_dir():
            path = where / (self.weight_name or "pytorch_lora_weights.safetensors")
            if not path.is_file():
                raise ModelUnavailable(f"the acceleration LoRA {self.name} is not at {path}")
            return path
        from huggingface_hub import hf_hub_download

        try:
            return Path(
                hf_hub_download(
                    self.location,
                    self.weight_name or "pytorch_lora_weights.safetensors",
                    local_files_only=offline,
                )
            )
        except Exception as exc:
            raise ModelUnavailable(
                f"the acceleration LoRA {self.location} ({self.weight_name}) is not on this machine: "
                "run fetch-models, or set LIKENESS_SPEED_SD15 / LIKENESS_SPEED_SDXL to a local file"
            ) from exc


def _lcm(name: str) -> Accelerator:
    return Accelerator(name.split("/")[-1], name, "pytorch_lora_weights.safetensors", "LCM", "Uniform")


def _hyper(family: Family, steps: int) -> Accelerator:
    prefix = "Hyper-SDXL" if family is Family.SDXL else "Hyper-SD15"
    file = f"{prefix}-{steps}steps-lora.safetensors"
    return Accelerator(file.removesuffix(".safetensors"), "ByteDance/Hyper-SD", file, "DDIM", "SGM Uniform")


def _lightning(steps: int) -> Accelerator:
    file = f"sdxl_lightning_{steps}step_lora.safetensors"
    return Accelerator(
        file.removesuffix(".safetensors"), "ByteDance/SDXL-Lightning", file, "Euler", "SGM Uniform"
    )


# preset name -> speed -> its LoRA, per family; the first preset of a family is its default.
PRESETS: dict[Family, dict[str, dict[str, Accelerator]]] = {
    Family.SD15: {
        "lcm": {
            Speed.FAST: _lcm("latent-consistency/lcm-lora-sdv1-5"),
            Speed.TURBO: _lcm("latent-consistency/lcm-lora-sdv1-5"),
        },
        "hyper-sd": {Speed.FAST: _hyper(Family.SD15, 8), Speed.TURBO: _hyper(Family.SD15, 4)},
    },
    Family.SDXL: {
        "lightning": {Speed.FAST: _lightning(8), Speed.TURBO: _lightning(4)},
        "hyper-sd": {Speed.FAST: _hyper(Family.SDXL, 8), Speed.TURBO: _hyper(Family.SDXL, 4)},
        "lcm": {
            Speed.FAST: _lcm("latent-consistency/lcm-lora-sdxl"),
            Speed.TURBO: _lcm("latent-consistency/lcm-lora-sdxl"),
        },
    },
}
DEFAULT_PRESETS = {family: next(iter(presets)) for family, presets in PRESETS.items()}
SPEED_SETTINGS = {Family.SD15: "LIKENESS_SPEED_SD15", Family.SDXL: "LIKENESS_SPEED_SDXL"}

Accelerators = Mapping[Family, Mapping[str, Accelerator]]  # family -> speed -> its LoRA


def accelerator_for(accelerators: Accelerators, family: Family, speed: str) -> Accelerator:
    """The LoRA ``speed`` adds on a ``family`` model, or ``InvalidRequest`` naming the setting."""
    found = accelerators.get(family, {}).get(speed)
    if found is None:
        raise InvalidRequest(
            f"speed {speed} is not set up for {family.label} models on this bot (the operator sets "
            f"{SPEED_SETTINGS[family]}): choose speed quality"
        )
    return found
