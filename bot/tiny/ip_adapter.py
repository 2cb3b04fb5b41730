"""Tiny IP-Adapter (CLIP image prompt) and IP-Adapter FaceID files in the h94 layouts.

The files hold exactly the keys `StableDiffusionPipeline.load_ip_adapter` expects from the real
checkpoints, shaped from the tiny UNet, so the real loader and attention processors run end to end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

logger = logging.getLogger(__name__)

#: Folder inside the plain adapter's directory that holds the weight file (like h94/IP-Adapter).
IP_ADAPTER_SUBFOLDER = "models"
IP_ADAPTER_WEIGHT = "ip-adapter_tiny.safetensors"
#: diffusers looks for the CLIP encoder at `<dir>/<subfolder>/image_encoder` by default.
IMAGE_ENCODER_FOLDER = "image_encoder"
#: The FaceID file sits at the folder root (loaded with subfolder="").
FACEID_WEIGHT = "ip-adapter-faceid_tiny.safetensors"
#: insightface ArcFace embedding width, the FaceID adapter's input.
FACE_EMBED_DIM = 512
#: Image tokens per reference: diffusers hard-codes 4 for plain and FaceID adapters.
NUM_IMAGE_TOKENS = 4
#: Hidden width of the FaceID projection MLP (the real checkpoint uses 1024 too).
FACEID_HIDDEN_DIM = 1024


def cross_attention_hidden_sizes(unet: UNet2DConditionModel) -> list[int]:
    """Channel width of every cross-attention processor, in `unet.attn_processors` order.

    Mirrors diffusers' `_convert_ip_adapter_attn_to_diffusers`, which numbers these processors
    1, 3, 5, … and reads `ip_adapter.{n}.to_k_ip/to_v_ip` for each.
    """
    channels = list(unet.config.block_out_channels)
    sizes: list[int] = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            sizes.append(channels[-1])
        elif name.startswith("up_blocks"):
            sizes.append(list(reversed(channels))[int(name[len("up_blocks.")])])
        elif name.startswith("down_blocks"):
            sizes.append(channels[int(name[len("down_blocks.")])])
        else:
            raise ValueError(f"unexpected attention processor {name!r}")
    return sizes


def _ip_attention_weights(unet: UNet2DConditionModel) -> dict[str, torch.Tensor]:
    """Random to_k_ip/to_v_ip projections for every cross-attention layer."""
    cross_dim = int(unet.config.cross_attention_dim)
    weights: dict[str, torch.Tensor] = {}
    for index, hidden in enumerate(cross_attention_hidden_sizes(unet)):
        key_id = 2 * index + 1
        for part in ("to_k_ip", "to_v_ip"):
            weights[f"ip_adapter.{key_id}.{part}.weight"] = (
                torch.nn.Linear(cross_dim, hidden, bias=False).weight.detach().clone()
            )
    return weights


def _norm_weights(prefix: str, width: int) -> dict[str, torch.Tensor]:
    norm = torch.nn.LayerNorm(width)
    return {
        f"{prefix}.weight": norm.weight.detach().clone(),
        f"{prefix}.bias": norm.bias.detach().clone(),
    }


def plain_adapter_state_dict(unet: UNet2DConditionModel, image_embed_dim: int) -> dict[str, torch.Tensor]:
    """Keys of h94's `ip-adapter_sd15`: a linear image projection to 4 tokens plus per-layer k/v."""
    cross_dim = int(unet.config.cross_attention_dim)
    proj = torch.nn.Linear(image_embed_dim, NUM_IMAGE_TOKENS * cross_dim)
    state = {
        "image_proj.proj.weight": proj.weight.detach().clone(),
        "image_proj.proj.bias": proj.bias.detach().clone(),
        **_norm_weights("image_proj.norm", cross_dim),
    }
    state.update(_ip_attention_weights(unet))
    return state


def faceid_adapter_state_dict(unet: UNet2DConditionModel) -> dict[str, torch.Tensor]:
    """Keys of h94's `ip-adapter-faceid_sd15` without its LoRA: MLP 512 → 1024 → 4 tokens."""
    cross_dim = int(unet.config.cross_attention_dim)
    first = torch.nn.Linear(FACE_EMBED_DIM, FACEID_HIDDEN_DIM)
    second = torch.nn.Linear(FACEID_HIDDEN_DIM, NUM_IMAGE_TOKENS * cross_dim)
    state = {
        "image_proj.proj.0.weight": first.weight.detach().clone(),
        "image_proj.proj.0.bias": first.bias.detach().clone(),
        "image_proj.proj.2.weight": second.weight.detach().clone(),
        "image_proj.proj.2.bias": second.bias.detach().clone(),
        **_norm_weights("image_proj.norm", cross_dim),
    }
    state.update(_ip_attention_weights(unet))
    return state


def build_image_encoder() -> CLIPVisionModelWithProjection:
    """Tiny CLIP vision tower; its projection_dim is the plain adapter's image embedding width."""
    config = CLIPVisionConfig(
        hidden_size=32,
        projection_dim=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        image_size=32,
        patch_size=4,
    )
    return CLIPVisionModelWithProjection(config)


def save_ip_adapter(
    unet: UNet2DConditionModel,
    out_dir: Path,
    seed: int = 1,
    encoder_builder: Callable[[], CLIPVisionModelWithProjection] | None = None,
) -> Path:
    """Write `<out_dir>/models/ip-adapter_tiny.safetensors` and its image encoder; return the file.

    No CLIPImageProcessor is saved: `load_ip_adapter` creates one sized from the encoder config when
    the pipeline has none, exactly as with the real h94 folder (which ships only the encoder).
    """
    folder = out_dir / IP_ADAPTER_SUBFOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = (encoder_builder or build_image_encoder)()
        state = plain_adapter_state_dict(unet, int(encoder.config.projection_dim))
    encoder.save_pretrained(folder / IMAGE_ENCODER_FOLDER, safe_serialization=True)
    weight_file = folder / IP_ADAPTER_WEIGHT
    save_file(state, str(weight_file))
    logger.debug("saved tiny IP-Adapter (%d tensors) to %s", len(state), weight_file)
    return weight_file


def save_faceid_adapter(unet: UNet2DConditionModel, out_dir: Path, seed: int = 2) -> Path:
    """Write `<out_dir>/ip-adapter-faceid_tiny.safetensors` (no image encoder needed); return the file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        state = faceid_adapter_state_dict(unet)
    weight_file = out_dir / FACEID_WEIGHT
    save_file(state, str(weight_file))
    logger.debug("saved tiny FaceID adapter (%d tensors) to %s", len(state), weight_file)
    return weight_file
