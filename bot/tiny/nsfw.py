"""A tiny NSFW classifier in the real transformers format, whose verdict tests can steer.

A ``ViTForImageClassification`` (the architecture of the default, Falconsai/nsfw_image_detection)
with labels ``normal`` and ``nsfw`` and a ``ViTImageProcessor``, saved with ``save_pretrained`` and
read back by the bot's own ``AutoModelForImageClassification.from_pretrained``. Its weights are set
by hand rather than drawn at random, so its score follows the picture's brightness: the patch
embedding measures each patch's mean value, the one attention layer averages the patches into the
class token, and the classifier turns that into a logit. A white picture scores 1.0, a black one 0.0,
and the tiny models' own generations (mid-grey noise) about 0.08 (``bias`` shifts where the verdict
turns). So a test flags an output by inpainting a white picture (everything outside the mask stays
white), clears it with a dark one, and splits two candidates of one job with the threshold between
their scores (which differ a little: the classifier is steep).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

IMAGE_SIZE = 32
PATCH = 16
WIDTH = 4  # hidden size: the brightness and its negative, and two unused channels
GAIN = 40.0  # the nsfw logit per unit of (normalised) brightness: steep, so candidates' scores differ
BIAS = -3.0  # the tiny models' mid-grey generations score about 0.08: not flagged at the default 0.5
LABELS = {0: "normal", 1: "nsfw"}


def build_tiny_nsfw(bias: float = BIAS) -> tuple[ViTForImageClassification, ViTImageProcessor]:
    """The classifier and its processor; ``bias`` is added to the nsfw logit (positive: flags more)."""
    config = ViTConfig(
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
        num_channels=3,
        hidden_size=WIDTH,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=WIDTH,
        layer_norm_eps=1.0,  # large: the norms stay smooth, so the score moves with the brightness
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        id2label=LABELS,
        label2id={name: i for i, name in LABELS.items()},
    )
    model = ViTForImageClassification(config).eval()
    eye = torch.eye(WIDTH)
    mean = 1.0 / (3 * PATCH * PATCH)  # each patch's mean pixel, in the processor's [-1, 1]
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.zero_()
            if name.endswith("patch_embeddings.projection.weight"):
                parameter[0].fill_(mean)
                parameter[1].fill_(-mean)
            elif "layernorm" in name and name.endswith(".weight"):
                parameter.fill_(1.0)
            # Queries and keys stay zero, so attention is uniform: the class token gets the tokens'
            # mean. Values and the attention's output pass it through (transformers 5 names them
            # v_proj and o_proj; 4.x value and attention.output.dense).
            elif name.endswith(("v_proj.weight", "o_proj.weight", "attention.value.weight")) or (
                name.endswith("attention.output.dense.weight")
            ):
                parameter.copy_(eye)
        model.classifier.weight[1, 0] = GAIN
        model.classifier.bias[1] = bias
    processor = ViTImageProcessor(
        do_resize=True,
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_rescale=True,
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return model, processor


def save_tiny_nsfw(out_dir: Path, bias: float = BIAS) -> Path:
    model, processor = build_tiny_nsfw(bias)
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    return out_dir
