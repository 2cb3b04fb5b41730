"""Tiny random-weight vision models for ``/describe`` (Florence-2) and depth maps (Depth Anything V2).

Built from configs with the real transformers classes and saved with ``save_pretrained``, so the bot's
own loaders (``AutoProcessor`` + ``Florence2ForConditionalGeneration``, the ``depth-estimation``
pipeline) run their genuine code paths offline in a fraction of a second. The weights are random:
captions are gibberish and depth maps are noise, which is all a test of the plumbing needs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import (
    BartConfig,
    BartTokenizer,
    CLIPImageProcessor,
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    DPTImageProcessor,
    Florence2Config,
    Florence2ForConditionalGeneration,
    Florence2Processor,
    Florence2VisionConfig,
    GenerationConfig,
)

from bot.tiny.sd import _byte_characters

logger = logging.getLogger(__name__)

SEED = 0
#: Florence-2's input size; the vision tower downsamples by 4·2·2·2 = 32, so 64 px gives a 2×2 grid.
FLORENCE_IMAGE_SIZE = 64
#: Image tokens per picture: the 2×2 spatial grid plus one temporal token (577 = 24² + 1 at 768 px).
FLORENCE_IMAGE_TOKENS = (FLORENCE_IMAGE_SIZE // 32) ** 2 + 1
FLORENCE_WIDTH = 32  # BART d_model, also the vision projection's output width
#: Depth Anything's input size, a multiple of the ViT patch (14) like the real 518.
DEPTH_IMAGE_SIZE = 56
DEPTH_PATCH = 14
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
IMAGE_TOKEN = "<image>"


def build_florence_tokenizer() -> BartTokenizer:
    """Byte-level BPE in BART's layout (``<s>``=0, ``<pad>``=1, ``</s>``=2) with no merges.

    Every byte is one token, so any prompt tokenizes without the real 51k vocabulary. The processor
    reads ``tokenizer.image_token``/``image_token_id``, hence the named extra special token.
    """
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for char in _byte_characters():
        vocab[char] = len(vocab)
    vocab["<mask>"] = len(vocab)
    return BartTokenizer(vocab=vocab, merges=[], extra_special_tokens={"image_token": IMAGE_TOKEN})


def build_florence_processor() -> Florence2Processor:
    """Florence-2's processor: a CLIP image processor at the tiny size plus the byte tokenizer."""
    image_processor = CLIPImageProcessor(
        do_resize=True,
        size={"height": FLORENCE_IMAGE_SIZE, "width": FLORENCE_IMAGE_SIZE},
        do_center_crop=False,
        do_rescale=True,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        do_convert_rgb=True,
        image_seq_length=FLORENCE_IMAGE_TOKENS,
    )
    return Florence2Processor(image_processor=image_processor, tokenizer=build_florence_tokenizer())


def build_florence_config(tokenizer: BartTokenizer) -> Florence2Config:
    """Four DaViT stages of one block each and a 2+2-layer BART, 32 wide."""
    vision = Florence2VisionConfig(
        depths=(1, 1, 1, 1),
        embed_dim=(16, 16, 32, 32),
        num_heads=(1, 1, 2, 2),
        num_groups=(1, 1, 2, 2),
        window_size=2,
        drop_path_rate=0.0,
        projection_dim=FLORENCE_WIDTH,
        max_position_embeddings=8,
        max_temporal_embeddings=4,
    )
    text = BartConfig(
        vocab_size=len(tokenizer),
        d_model=FLORENCE_WIDTH,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_bos_token_id=tokenizer.bos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    return Florence2Config(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        image_token_id=tokenizer.image_token_id,
    )


def save_tiny_florence(out_dir: Path) -> None:
    """Save a random Florence-2 and its processor so ``AutoProcessor``/``from_pretrained`` load them."""
    processor = build_florence_processor()
    config = build_florence_config(processor.tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = Florence2ForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        pad_token_id=config.text_config.pad_token_id,
        eos_token_id=config.text_config.eos_token_id,
        decoder_start_token_id=config.text_config.decoder_start_token_id,
        forced_bos_token_id=config.text_config.bos_token_id,
        forced_eos_token_id=config.text_config.eos_token_id,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    logger.info("tiny: Florence-2 saved to %s", out_dir)


def build_depth_config() -> DepthAnythingConfig:
    """Depth Anything V2-Small's layout (DINOv2 ViT-S/14, four reassembled stages), 16 wide."""
    backbone = Dinov2Config(
        image_size=DEPTH_IMAGE_SIZE,
        patch_size=DEPTH_PATCH,
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        mlp_ratio=2,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
        apply_layernorm=True,
    )
    return DepthAnythingConfig(
        backbone_config=backbone.to_dict(),
        patch_size=DEPTH_PATCH,
        reassemble_hidden_size=16,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type="relative",
    )


def save_tiny_depth(out_dir: Path) -> None:
    """Save a random Depth Anything V2 and its DPT image processor for ``pipeline("depth-estimation")``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = DepthAnythingForDepthEstimation(build_depth_config()).eval()
    image_processor = DPTImageProcessor(
        do_resize=True,
        size={"height": DEPTH_IMAGE_SIZE, "width": DEPTH_IMAGE_SIZE},
        keep_aspect_ratio=True,
        ensure_multiple_of=DEPTH_PATCH,
        do_pad=False,
        do_rescale=True,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    logger.info("tiny: Depth Anything saved to %s", out_dir)
