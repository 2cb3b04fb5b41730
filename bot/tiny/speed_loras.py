"""Random-weight acceleration LoRAs in the public files' layout, for fast and turbo.

As published: SD 1.5's LCM-LoRA is one ``pytorch_lora_weights.safetensors`` in a folder named for
the repository (latent-consistency/lcm-lora-sdv1-5), SDXL-Lightning's are
``sdxl_lightning_8step_lora.safetensors`` and ``sdxl_lightning_4step_lora.safetensors`` side by
side (ByteDance/SDXL-Lightning). Both are UNet-only, kohya-style keys (``lora_unet_…`` with
``lora_down``/``lora_up``/``alpha``) over the transformer blocks' linear layers: attention, the
feed-forward and the time embedding's projections. Random weights distil nothing, but they load
through the real path and change the image, which is what tests and benchmarks need of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from safetensors.torch import save_file

from bot.engine.family import Family, family_of

LCM_DIR = "lcm-lora-sdv1-5"
LCM_FILE = "pytorch_lora_weights.safetensors"
LIGHTNING_DIR = "SDXL-Lightning"
LIGHTNING_FILES = {
    "fast": "sdxl_lightning_8step_lora.safetensors",
    "turbo": "sdxl_lightning_4step_lora.safetensors",
}
TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "time_emb_proj")


def unet_lora(pipe: DiffusionPipeline, rank: int, seed: int) -> dict[str, torch.Tensor]:
    """A kohya-layout LoRA over the UNet's target linear layers, small enough not to wreck it."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, layer in pipe.unet.named_modules():
        if not (name.endswith(TARGETS) and isinstance(layer, torch.nn.Linear)):
            continue
        key = "lora_unet_" + name.replace(".", "_")
        state[f"{key}.lora_down.weight"] = torch.randn(rank, layer.in_features, generator=generator) * 0.1
        state[f"{key}.lora_up.weight"] = torch.randn(layer.out_features, rank, generator=generator) * 0.1
        state[f"{key}.alpha"] = torch.tensor(float(rank))
    return state


def save_speed_loras(pipe: DiffusionPipeline, root: Path, rank: int = 4) -> list[Path]:
    """Write the acceleration LoRAs of ``pipe``'s family under ``root`` (``speed_settings`` names them)."""
    if family_of(pipe) is Family.SDXL:
        files = [root / LIGHTNING_DIR / file for file in LIGHTNING_FILES.values()]
    else:
        files = [root / LCM_DIR / LCM_FILE]
    for seed, path in enumerate(files, start=20):
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(unet_lora(pipe, rank, seed), str(path))
    return files


def speed_settings(root: Path) -> dict[str, str]:
    """The LIKENESS_SPEED_* settings for a bundle at ``root``, as ``save_speed_loras`` writes them."""
    lcm = {"lora": str(root / LCM_DIR), "weight_name": LCM_FILE, "sampler": "LCM"}
    lightning = {
        speed: {
            "lora": str(root / LIGHTNING_DIR),
            "weight_name": file,
            "sampler": "Euler",
            "schedule": "SGM Uniform",
        }
        for speed, file in LIGHTNING_FILES.items()
    }
    return {
        "LIKENESS_SPEED_SD15": json.dumps({"fast": lcm, "turbo": lcm}),
        "LIKENESS_SPEED_SDXL": json.dumps(lightning),
    }
