"""Tiny random-weight style LoRAs for the tiny pipelines, in the two formats model sites and diffusers
write: kohya/A1111 (``lora_unet_…``, ``lora_te…``, with ``alpha`` and training metadata) and
diffusers/PEFT (``unet.….lora_A.weight``). Each covers the UNet's attention and every text encoder,
so a LoRA visibly changes the result."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from safetensors.torch import save_file

from bot.engine.family import Family, family_of

logger = logging.getLogger(__name__)

RANK = 4
UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
KOHYA_NAME = "ink"  # kohya format
PEFT_NAME = "glow"  # diffusers/PEFT format
# What kohya's trainer writes as the base model (and what model sites keep in the file).
BASE_MODEL = {Family.SD15: "sd_v1", Family.SDXL: "sdxl_base_v1-0"}


def _linear_layers(model: torch.nn.Module, targets: tuple[str, ...]) -> list[tuple[str, torch.nn.Linear]]:
    """The target layers by their module path below the text transformer (LoRA files name text encoder
    layers from ``text_model``, which transformers 5 puts under some encoder classes and not others)."""
    return [
        (n.removeprefix("text_model."), m)
        for n, m in model.named_modules()
        if n.endswith(targets) and isinstance(m, torch.nn.Linear)
    ]


def _pair(layer: torch.nn.Linear, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    down = torch.randn(RANK, layer.in_features, generator=generator) * 0.2
    up = torch.randn(layer.out_features, RANK, generator=generator) * 0.2
    return down, up


def _encoders(pipe: DiffusionPipeline) -> list[tuple[str, str, torch.nn.Module]]:
    """(kohya prefix, diffusers prefix, model) of each text encoder; SDXL names them te1/te2."""
    if family_of(pipe) is Family.SDXL:
        return [
            ("lora_te1_text_model_", "text_encoder.text_model.", pipe.text_encoder),
            ("lora_te2_text_model_", "text_encoder_2.text_model.", pipe.text_encoder_2),
        ]
    return [("lora_te_text_model_", "text_encoder.text_model.", pipe.text_encoder)]


def kohya_state_dict(pipe: DiffusionPipeline, seed: int = 11) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    groups = [("lora_unet_", pipe.unet, UNET_TARGETS)] + [(k, m, TEXT_TARGETS) for k, _, m in _encoders(pipe)]
    for prefix, model, targets in groups:
        for name, layer in _linear_layers(model, targets):
            key = prefix + name.replace(".", "_")
            state[f"{key}.lora_down.weight"], state[f"{key}.lora_up.weight"] = _pair(layer, generator)
            state[f"{key}.alpha"] = torch.tensor(float(RANK))
    return state


def peft_state_dict(pipe: DiffusionPipeline, seed: int = 12) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    groups = [("unet.", pipe.unet, UNET_TARGETS)] + [(d, m, TEXT_TARGETS) for _, d, m in _encoders(pipe)]
    for prefix, model, targets in groups:
        for name, layer in _linear_layers(model, targets):
            state[f"{prefix}{name}.lora_A.weight"], state[f"{prefix}{name}.lora_B.weight"] = _pair(
                layer, generator
            )
    return state


def save_loras(pipe: DiffusionPipeline, out_dir: Path) -> list[Path]:
    """Write ``ink.safetensors`` (kohya) and ``glow.safetensors`` (diffusers/PEFT) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    family = family_of(pipe)
    kohya = out_dir / f"{KOHYA_NAME}.safetensors"
    save_file(kohya_state_dict(pipe), str(kohya), metadata={"ss_base_model_version": BASE_MODEL[family]})
    peft = out_dir / f"{PEFT_NAME}.safetensors"
    save_file(peft_state_dict(pipe), str(peft))
    logger.debug("saved tiny LoRAs %s and %s", kohya, peft)
    return [kohya, peft]
