"""Tiny random-weight vision models for ``/describe`` (Florence-2) and depth maps (Depth Anything V2).

Built from configs with the real transformers classes and saved with ``save_pretrained``, so the bot's
own loaders (``AutoProcessor`` + ``Florence2ForConditionalGeneration``, the ``depth-estimation``
pipeline) run their genuine code paths offline in a fraction of a second. The weights are random:
captions are gibberish and depth maps are noise, which is all a test of the plumbing needs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

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


#: Florence-2-base's real sizes (``--scale full``): 768 px in, 577 image tokens, a 768-wide BART with
#: six layers each side, and its 51 289-token vocabulary (padded here with filler tokens).
FULL_FLORENCE = {"image": 768, "width": 768, "layers": 6, "heads": 12, "ffn": 3072, "vocab": 51289}


def build_florence_tokenizer(vocab_size: int = 0) -> BartTokenizer:
    """Byte-level BPE in BART's layout (``<s>``=0, ``<pad>``=1, ``</s>``=2) with no merges.

    Every byte is one token, so any prompt tokenizes without the real 51k vocabulary; ``vocab_size``
    pads it with filler tokens to a real model's size. The processor reads
    ``tokenizer.image_token``/``image_token_id``, hence the named extra special token.
    """
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for char in _byte_characters():
        vocab[char] = len(vocab)
    vocab["<mask>"] = len(vocab)
    for n in range(len(vocab), vocab_size - 1):  # the image token takes the last id
        vocab[f"<filler_{n}>"] = n
    return BartTokenizer(vocab=vocab, merges=[], extra_special_tokens={"image_token": IMAGE_TOKEN})


def build_florence_processor(side: int = FLORENCE_IMAGE_SIZE, vocab_size: int = 0) -> Florence2Processor:
    """Florence-2's processor: a CLIP image processor at ``side`` px plus the byte tokenizer."""
    image_processor = CLIPImageProcessor(
        do_resize=True,
        size={"height": side, "width": side},
        do_center_crop=False,
        do_rescale=True,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        do_convert_rgb=True,
        image_seq_length=(side // 32) ** 2 + 1,
    )
    return Florence2Processor(image_processor=image_processor, tokenizer=build_florence_tokenizer(vocab_size))


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
    text = _bart(tokenizer, FLORENCE_WIDTH, layers=2, heads=2, ffn=64, positions=256)
    return Florence2Config(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        image_token_id=tokenizer.image_token_id,
    )


def _bart(
    tokenizer: BartTokenizer, width: int, *, layers: int, heads: int, ffn: int, positions: int
) -> BartConfig:
    """Florence-2's language half: a BART as wide as the vision projection, ids from ``tokenizer``."""
    return BartConfig(
        vocab_size=len(tokenizer),
        d_model=width,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=ffn,
        decoder_ffn_dim=ffn,
        max_position_embeddings=positions,
        bos_token_id=tokenizer.bos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )


def build_full_florence_config(tokenizer: BartTokenizer) -> Florence2Config:
    """Florence-2-base: DaViT (transformers' defaults are its shapes) into a 768-wide, 6+6-layer BART."""
    full = FULL_FLORENCE
    text = _bart(
        tokenizer, full["width"], layers=full["layers"], heads=full["heads"], ffn=full["ffn"], positions=1024
    )
    vision = Florence2VisionConfig(projection_dim=full["width"], drop_path_rate=0.0)
    return Florence2Config(
        vision_config=vision.to_dict(), text_config=text.to_dict(), image_token_id=tokenizer.image_token_id
    )


def save_tiny_florence(out_dir: Path, scale: str = "tiny") -> None:
    """Save a random Florence-2 and its processor so ``AutoProcessor``/``from_pretrained`` load them;
    ``scale="full"`` gives Florence-2-base's real shapes (for benchmarks)."""
    if scale == "full":
        processor = build_florence_processor(FULL_FLORENCE["image"], FULL_FLORENCE["vocab"])
        config = build_full_florence_config(processor.tokenizer)
    else:
        processor = build_florence_processor()
        config = build_florence_config(processor.tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = Florence2ForConditionalGeneration(config).eval()
    text = config.text_config  # a BartConfig: Florence2Config builds it from the dict
    assert isinstance(text, BartConfig)
    model.generation_config = GenerationConfig(
        bos_token_id=text.bos_token_id,
        pad_token_id=text.pad_token_id,
        eos_token_id=text.eos_token_id,
        decoder_start_token_id=text.decoder_start_token_id,
        forced_bos_token_id=text.bos_token_id,
        forced_eos_token_id=text.eos_token_id,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    logger.info("tiny: Florence-2 saved to %s", out_dir)


def build_full_depth_config() -> DepthAnythingConfig:
    """Depth Anything V2 Small's real shapes: DINOv2 ViT-S/14 (384 wide, 12 layers) at 518 px."""
    backbone = {
        "hidden_size": 384,
        "num_hidden_layers": 12,
        "num_attention_heads": 6,
        "out_indices": [3, 6, 9, 12],
    }
    return _depth_config(518, backbone, neck=[48, 96, 192, 384], fusion=64, head=32)


def build_depth_config() -> DepthAnythingConfig:
    """Depth Anything V2-Small's layout (DINOv2 ViT-S/14, four reassembled stages), 16 wide."""
    backbone = {
        "hidden_size": 16,
        "num_hidden_layers": 4,
        "num_attention_heads": 2,
        "mlp_ratio": 2,
        "out_features": ["stage1", "stage2", "stage3", "stage4"],
    }
    return _depth_config(DEPTH_IMAGE_SIZE, backbone, neck=[8, 8, 16, 16], fusion=16, head=8)


def _depth_config(
    side: int, backbone: dict[str, Any], *, neck: list[int], fusion: int, head: int
) -> DepthAnythingConfig:
    """A DINOv2 backbone of ``backbone``'s sizes reassembled at four scales, as Depth Anything is."""
    vit = Dinov2Config(
        image_size=side, patch_size=DEPTH_PATCH, reshape_hidden_states=False, apply_layernorm=True, **backbone
    )
    return DepthAnythingConfig(
        backbone_config=vit.to_dict(),
        patch_size=DEPTH_PATCH,
        reassemble_hidden_size=vit.hidden_size,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_sizes=neck,
        fusion_hidden_size=fusion,
        head_hidden_size=head,
        depth_estimation_type="relative",
    )


def save_tiny_depth(out_dir: Path, scale: str = "tiny") -> None:
    """Save a random Depth Anything V2 and its DPT image processor for ``pipeline("depth-estimation")``;
    ``scale="full"`` gives V2 Small's real shapes."""
    full = scale == "full"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = DepthAnythingForDepthEstimation(build_full_depth_config() if full else build_depth_config())
    side = 518 if full else DEPTH_IMAGE_SIZE
    image_processor = DPTImageProcessor(
        do_resize=True,
        size={"height": side, "width": side},
        keep_aspect_ratio=True,
        ensure_multiple_of=DEPTH_PATCH,
        do_pad=False,
        do_rescale=True,
        do_normalize=True,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(out_dir)
    image_processor.save_pretrained(out_dir)
    logger.info("tiny: Depth Anything saved to %s", out_dir)
