"""Tiny random-weight SDXL pipeline: two text encoders, micro-conditioning, saved in diffusers' layout.

diffusers' own SDXL test shapes, with two encoders of different widths as in the real model (so
single-file loading can tell them apart): the UNet's cross-attention width (80) is their hidden sizes
side by side (32 + 48), and its added embedding takes the six time ids (6 × 8) plus the second
encoder's pooled text embedding (48). It runs the real ``StableDiffusionXLPipeline`` at 64 px in
well under a second.
"""

from __future__ import annotations

import logging

from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from bot.tiny.sd import MODEL_MAX_LENGTH, SAMPLE_SIZE, build_tiny_vae, build_tokenizer

SDXL_VAE_SCALE = 0.13025  # stabilityai/stable-diffusion-xl-base-1.0's vae/config.json

logger = logging.getLogger(__name__)

ENCODER_WIDTHS = (32, 48)  # CLIP-L and OpenCLIP bigG stand-ins: hidden size and projection each
CROSS_ATTENTION_DIM = sum(ENCODER_WIDTHS)
TIME_EMBED_DIM = 8


def build_tiny_sdxl_unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=SAMPLE_SIZE,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED_DIM,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * TIME_EMBED_DIM + ENCODER_WIDTHS[1],
        cross_attention_dim=CROSS_ATTENTION_DIM,
    )


def _text_config(width: int, vocab_size: int, bos: int, eos: int, pad: int) -> CLIPTextConfig:
    return CLIPTextConfig(
        hidden_size=width,
        projection_dim=width,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=vocab_size,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
        max_position_embeddings=MODEL_MAX_LENGTH,
        hidden_act="gelu",
    )


def build_scheduler() -> EulerDiscreteScheduler:
    """SDXL base's own noise schedule, whatever the model's size."""
    return EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )


def build_tiny_sdxl_pipeline() -> StableDiffusionXLPipeline:
    """Assemble the tiny SDXL pipeline in memory; the caller seeds torch for reproducible weights."""
    tokenizer, tokenizer_2 = build_tokenizer(), build_tokenizer()
    ids = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    first, second = (_text_config(width, len(tokenizer), *ids) for width in ENCODER_WIDTHS)
    scheduler = build_scheduler()
    return StableDiffusionXLPipeline(
        vae=build_tiny_vae(SDXL_VAE_SCALE),
        text_encoder=CLIPTextModel(first),
        text_encoder_2=CLIPTextModelWithProjection(second),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=build_tiny_sdxl_unet(),
        scheduler=scheduler,
    )
