"""Write a pipeline's weights as one ``.safetensors`` file in the original (LDM / SGM) key layout:
what model sites distribute and what diffusers' ``from_single_file`` reads.

The mapping is the inverse of diffusers' single-file conversion, written for any number of blocks,
so it serves the tiny models and the real ones alike. It is proved by a round trip: the file loaded
through ``from_single_file`` with the folder as its config gives the folder's pixels, bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from bot.engine.family import Family, family_of

_RESNET = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def unet_keys(unet: Any) -> dict[str, str]:
    """diffusers UNet parameter name → LDM name (``model.diffusion_model.`` not yet prefixed)."""
    config = unet.config
    per_block = int(config.layers_per_block)
    up_attention = [hasattr(block, "attentions") for block in unet.up_blocks]
    prefixes: dict[str, str] = {f"{k}.": f"{v}." for k, v in _UNET_TOP.items()}
    for b in range(len(config.block_out_channels)):
        for j in range(per_block):
            slot = 1 + b * (per_block + 1) + j
            prefixes[f"down_blocks.{b}.resnets.{j}."] = f"input_blocks.{slot}.0."
            prefixes[f"down_blocks.{b}.attentions.{j}."] = f"input_blocks.{slot}.1."
        prefixes[f"down_blocks.{b}.downsamplers.0.conv."] = f"input_blocks.{(b + 1) * (per_block + 1)}.0.op."
        for j in range(per_block + 1):
            slot = b * (per_block + 1) + j
            prefixes[f"up_blocks.{b}.resnets.{j}."] = f"output_blocks.{slot}.0."
            prefixes[f"up_blocks.{b}.attentions.{j}."] = f"output_blocks.{slot}.1."
        last = b * (per_block + 1) + per_block
        prefixes[f"up_blocks.{b}.upsamplers.0."] = f"output_blocks.{last}.{2 if up_attention[b] else 1}."
    prefixes["mid_block.resnets.0."] = "middle_block.0."
    prefixes["mid_block.attentions.0."] = "middle_block.1."
    prefixes["mid_block.resnets.1."] = "middle_block.2."
    names: dict[str, str] = {}
    for name in unet.state_dict():
        prefix = next((p for p in sorted(prefixes, key=len, reverse=True) if name.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"no LDM name for UNet parameter {name!r}")
        rest = name[len(prefix) :]
        if ".resnets." in prefix:
            rest = _rename(rest, _RESNET)
        names[name] = prefixes[prefix] + rest
    return names


_VAE_ATTENTION = (
    ("group_norm", "norm"),
    ("to_q", "q"),
    ("to_k", "k"),
    ("to_v", "v"),
    ("to_out.0", "proj_out"),
)


def vae_keys(vae: Any) -> dict[str, str]:
    """diffusers VAE parameter name → LDM name (``first_stage_model.`` not yet prefixed)."""
    blocks = len(vae.config.block_out_channels)
    prefixes: dict[str, str] = {}
    for side, name in (("encoder", "down"), ("decoder", "up")):
        for i in range(blocks):
            ldm = i if side == "encoder" else blocks - 1 - i
            for j in range(3):
                prefixes[f"{side}.{name}_blocks.{i}.resnets.{j}."] = f"{side}.{name}.{ldm}.block.{j}."
            sampler = "downsamplers" if side == "encoder" else "upsamplers"
            prefixes[f"{side}.{name}_blocks.{i}.{sampler}.0."] = f"{side}.{name}.{ldm}.{name}sample."
        prefixes[f"{side}.mid_block.resnets.0."] = f"{side}.mid.block_1."
        prefixes[f"{side}.mid_block.resnets.1."] = f"{side}.mid.block_2."
        prefixes[f"{side}.mid_block.attentions.0."] = f"{side}.mid.attn_1."
        prefixes[f"{side}.conv_norm_out."] = f"{side}.norm_out."
    names: dict[str, str] = {}
    for name in vae.state_dict():
        prefix = next((p for p in sorted(prefixes, key=len, reverse=True) if name.startswith(p)), None)
        if prefix is None:
            names[name] = name  # conv_in, conv_out, quant_conv, post_quant_conv keep their names
            continue
        rest = name[len(prefix) :]
        if ".resnets." in prefix:
            rest = _rename(rest, (("conv_shortcut", "nin_shortcut"),))
        if ".attentions." in prefix:
            rest = _rename(rest, _VAE_ATTENTION)
        names[name] = prefixes[prefix] + rest
    return names


def _rename(rest: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for old, new in pairs:
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


def _text_model_key(name: str) -> str:
    """A CLIP text encoder's key as checkpoints write it: under ``text_model.`` (transformers 5
    leaves that level out of ``CLIPTextModel``'s own names)."""
    return name if name.startswith("text_model.") else "text_model." + name


def open_clip_state(encoder: Any) -> dict[str, torch.Tensor]:
    """An HF ``CLIPTextModelWithProjection`` in OpenCLIP's layout (SDXL's second text encoder)."""
    state = {_text_model_key(k).removeprefix("text_model."): v for k, v in encoder.state_dict().items()}
    out: dict[str, torch.Tensor] = {
        "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
        "positional_embedding": state.pop("embeddings.position_embedding.weight"),
        "ln_final.weight": state.pop("final_layer_norm.weight"),
        "ln_final.bias": state.pop("final_layer_norm.bias"),
        "text_projection": state.pop("text_projection.weight").T.contiguous(),
    }
    state.pop("embeddings.position_ids", None)
    for i in range(int(encoder.config.num_hidden_layers)):
        layer, block = f"encoder.layers.{i}.", f"transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            parts = [state.pop(f"{layer}self_attn.{p}_proj.{kind}") for p in "qkv"]
            out[f"{block}attn.in_proj_{kind}"] = torch.cat(parts)
            out[f"{block}attn.out_proj.{kind}"] = state.pop(f"{layer}self_attn.out_proj.{kind}")
            out[f"{block}ln_1.{kind}"] = state.pop(f"{layer}layer_norm1.{kind}")
            out[f"{block}ln_2.{kind}"] = state.pop(f"{layer}layer_norm2.{kind}")
            out[f"{block}mlp.c_fc.{kind}"] = state.pop(f"{layer}mlp.fc1.{kind}")
            out[f"{block}mlp.c_proj.{kind}"] = state.pop(f"{layer}mlp.fc2.{kind}")
    if state:
        raise ValueError(f"no OpenCLIP name for {sorted(state)[:3]}")
    return out


def vae_state(vae: Any) -> dict[str, torch.Tensor]:
    """A diffusers VAE in the LDM layout, as a standalone VAE file (``vae-ft-mse-….safetensors``)
    holds it, and a checkpoint under ``first_stage_model.``."""
    weights = vae.state_dict()
    state: dict[str, torch.Tensor] = {}
    for name, ldm in vae_keys(vae).items():
        tensor = weights[name]
        if ".mid.attn_1." in ldm and ldm.endswith(".weight") and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # LDM's attention projections are 1×1 convolutions
        state[ldm] = tensor.detach().contiguous()
    return state


def save_vae_file(vae: Any, path: Path) -> Path:
    save_file(vae_state(vae), str(path))
    return path


def single_file_state(pipe: Any) -> dict[str, torch.Tensor]:
    """The whole pipeline (UNet, VAE, text encoders) as one LDM/SGM-layout state dict."""
    state: dict[str, torch.Tensor] = {}
    unet = pipe.unet.state_dict()
    for name, ldm in unet_keys(pipe.unet).items():
        state["model.diffusion_model." + ldm] = unet[name]
    for name, tensor in vae_state(pipe.vae).items():
        state["first_stage_model." + name] = tensor
    if family_of(pipe) is Family.SDXL:
        for name, tensor in pipe.text_encoder.state_dict().items():
            state["conditioner.embedders.0.transformer." + _text_model_key(name)] = tensor
        for name, tensor in open_clip_state(pipe.text_encoder_2).items():
            state["conditioner.embedders.1.model." + name] = tensor
    else:
        for name, tensor in pipe.text_encoder.state_dict().items():
            state["cond_stage_model.transformer." + _text_model_key(name)] = tensor
    return {k: v.detach().contiguous() for k, v in state.items()}


def save_single_file(pipe: Any, path: Path) -> Path:
    save_file(single_file_state(pipe), str(path))
    return path
