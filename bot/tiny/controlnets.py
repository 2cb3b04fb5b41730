"""Random-weight ControlNets (canny and depth) made from the bundle's own UNet, as real ones are.

``ControlNetModel.from_unet`` copies the UNet's encoder layout, so the result fits the family's
pipelines exactly (SD 1.5 or SDXL, tiny or real size). Only the conditioning embedding is sized
to the VAE: its stride-2 convolutions must bring the map down to the latents' size.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from diffusers import ControlNetModel

KINDS = ("canny", "depth")
_SEEDS = {"canny": 11, "depth": 12}
_EMBED_WIDTHS = (16, 32, 96, 256)  # diffusers' default: three stride-2 steps, for a VAE of factor 8


def build_controlnet(unet: Any, vae_scale_factor: int, kind: str) -> ControlNetModel:
    steps = int(math.log2(vae_scale_factor))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_SEEDS[kind])
        net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=_EMBED_WIDTHS[: steps + 1])
        # from_unet copies the UNet's weights and zeroes the map's last convolution and the outputs
        # (so an untrained ControlNet changes nothing); random ones make the map steer the result,
        # as a trained ControlNet's does.
        zeroed = (
            net.controlnet_cond_embedding.conv_out,
            *net.controlnet_down_blocks,
            net.controlnet_mid_block,
        )
        for conv in zeroed:
            torch.nn.init.normal_(conv.weight, std=0.1)
    return net


def save_controlnets(pipe: Any, out_dir: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, Path]:
    """``out_dir/controlnet-<kind>`` for each kind, in the diffusers layout ``from_pretrained`` reads."""
    folders = {}
    for kind in kinds:
        folder = out_dir / f"controlnet-{kind}"
        build_controlnet(pipe.unet, int(pipe.vae_scale_factor), kind).save_pretrained(
            folder, safe_serialization=True
        )
        folders[kind] = folder
    return folders
