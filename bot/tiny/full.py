"""Real-size random weights: the real SD 1.5 and SDXL architectures (their published configs), for
benchmarks. Speed and memory do not depend on the weights' values, so a random model measures what a
real one costs, on this CPU or any GPU, without downloading anything. Not for tests (gigabytes)."""

from __future__ import annotations

import logging
from typing import Any

from diffusers import (
    AutoencoderKL,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)

from bot.tiny import sd, sdxl
from bot.tiny.sd import MODEL_MAX_LENGTH, build_tokenizer

logger = logging.getLogger(__name__)

CLIP_VOCAB = 49408  # the real tokenizer's size: the embedding table is as large as the real one's


def _vae(sample_size: int, scaling_factor: float = 0.18215) -> AutoencoderKL:
    return AutoencoderKL(
        scaling_factor=scaling_factor,  # the real configs' (SD 1.5 0.18215, SDXL 0.13025)
        block_out_channels=[128, 256, 512, 512],
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        layers_per_block=2,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        sample_size=sample_size,
    )


def _text(
    width: int, layers: int, heads: int, inner: int, tokenizer: CLIPTokenizer, **more: Any
) -> CLIPTextConfig:
    """``more``: further CLIPTextConfig fields, each of its own type."""
    return CLIPTextConfig(
        hidden_size=width,
        intermediate_size=inner,
        num_attention_heads=heads,
        num_hidden_layers=layers,
        vocab_size=CLIP_VOCAB,
        max_position_embeddings=MODEL_MAX_LENGTH,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **more,
    )


def build_full_sd15() -> StableDiffusionPipeline:
    """SD 1.5: an 860 M-parameter UNet, CLIP ViT-L/14 text encoder, the 4-level VAE; 512 px native."""
    tokenizer = build_tokenizer()
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=(
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    scheduler = sd.build_scheduler()
    return StableDiffusionPipeline(
        vae=_vae(512),
        text_encoder=CLIPTextModel(_text(768, 12, 12, 3072, tokenizer, hidden_act="quick_gelu")),
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_full_sdxl() -> StableDiffusionXLPipeline:
    """SDXL base: a 2.6 B-parameter UNet, CLIP ViT-L and OpenCLIP ViT-bigG text encoders; 1024 px native."""
    tokenizer, tokenizer_2 = build_tokenizer(), build_tokenizer()
    unet = UNet2DConditionModel(
        sample_size=128,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10),
        attention_head_dim=(5, 10, 20),
        use_linear_projection=True,
        cross_attention_dim=2048,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    )
    scheduler = sdxl.build_scheduler()
    big_g = _text(1280, 32, 20, 5120, tokenizer_2, projection_dim=1280, hidden_act="gelu")
    return StableDiffusionXLPipeline(
        vae=_vae(1024, 0.13025),
        text_encoder=CLIPTextModel(_text(768, 12, 12, 3072, tokenizer, hidden_act="quick_gelu")),
        text_encoder_2=CLIPTextModelWithProjection(big_g),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
    )


def build_full_image_encoder() -> CLIPVisionModelWithProjection:
    """OpenCLIP ViT-H/14, the image encoder of h94's SD 1.5 adapters (and of their SDXL ``vit-h`` ones)."""
    return CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=1280,
            intermediate_size=5120,
            num_hidden_layers=32,
            num_attention_heads=16,
            image_size=224,
            patch_size=14,
            projection_dim=1024,
            hidden_act="gelu",
        )
    )
