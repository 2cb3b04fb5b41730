"""Tiny random-weight Stable Diffusion 1.5-layout pipeline, saved the way real checkpoints are.

The configs are diffusers' own test configs, so the pipeline exercises the real SD 1.5 code paths
(text encoder → cross-attention UNet → VAE) in well under a second per 64 px image on a CPU.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

logger = logging.getLogger(__name__)

#: Latent sample size of the tiny UNet; the 2-block VAE upsamples by 2, so images are 64 px natively.
SAMPLE_SIZE = 32
#: Native image resolution of the tiny pipeline (sample_size × VAE scale factor 2).
NATIVE_RESOLUTION = 64
#: Prompt length the pipeline pads to; without it the tokenizer's "max length" is effectively infinite.
MODEL_MAX_LENGTH = 77
#: Text/cross-attention width; IP-Adapter projections must produce tokens of this width.
CROSS_ATTENTION_DIM = 32

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"


def _byte_characters() -> list[str]:
    """Return the 256 printable stand-ins CLIP/GPT-2 byte-level BPE uses for raw bytes.

    Any text maps onto these, so a vocabulary of just them (plus `</w>` variants) tokenizes anything
    without needing the real 49k-entry vocabulary from the hub.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def build_tokenizer() -> CLIPTokenizer:
    """Build a byte-level CLIPTokenizer offline (no merges, so every byte is one token)."""
    chars = _byte_characters()
    vocab: dict[str, int] = {}
    for char in chars:
        vocab[char] = len(vocab)
    for char in chars:
        vocab[char + "</w>"] = len(vocab)
    vocab[BOS_TOKEN] = len(vocab)
    vocab[EOS_TOKEN] = len(vocab)
    with tempfile.TemporaryDirectory(prefix="tiny-tokenizer-") as tmp:
        folder = Path(tmp)
        (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        tokenizer: CLIPTokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=MODEL_MAX_LENGTH)
        return tokenizer


def build_tiny_unet() -> UNet2DConditionModel:
    """Two-level UNet with cross-attention in the second level (diffusers' test config)."""
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=SAMPLE_SIZE,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS_ATTENTION_DIM,
    )


def build_scheduler() -> DDIMScheduler:
    """SD 1.5's own noise schedule (its scheduler_config), whatever the model's size."""
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


VAE_SCALE = 0.18215  # the latents' scaling: SD 1.5's VAE config says so, SDXL's 0.13025


def build_tiny_vae(scaling_factor: float = VAE_SCALE) -> AutoencoderKL:
    """Two-level VAE (diffusers' test config): latents at half the image size, 4 channels; the
    family's scaling factor, as the real configs have it (a VAE's family is read from it)."""
    return AutoencoderKL(
        scaling_factor=scaling_factor,
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        sample_size=NATIVE_RESOLUTION,
    )


def build_tiny_pipeline() -> StableDiffusionPipeline:
    """Assemble the tiny pipeline in memory; the caller seeds torch for reproducible weights."""
    tokenizer = build_tokenizer()
    text_config = CLIPTextConfig(
        hidden_size=CROSS_ATTENTION_DIM,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=MODEL_MAX_LENGTH,
    )
    vae = build_tiny_vae()
    scheduler = build_scheduler()
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_config),
        tokenizer=tokenizer,
        unet=build_tiny_unet(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
