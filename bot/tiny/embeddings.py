"""Tiny textual-inversion embeddings in the layouts model sites ship: A1111's ``.pt``
(``string_to_param``) and ``.safetensors`` (``emb_params``) for SD 1.5, and ``clip_l``/``clip_g``
for SDXL. ``tinynoop`` holds the embedding of the word ``x``, so "a tinynoop" reads as "a x".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from bot.engine.family import Family, family_of

STYLE = "tinystyle"  # two random vectors: it changes the picture
NOOP = "tinynoop"  # the vector of the word "x": it changes nothing
NOOP_WORD = "x"


def _word_vector(tokenizer: Any, encoder: Any) -> torch.Tensor:
    [token] = tokenizer(NOOP_WORD, add_special_tokens=False).input_ids
    vector: torch.Tensor = encoder.get_input_embeddings().weight[token].detach().clone()
    return vector[None]


def save_embeddings(pipe: Any, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    width = int(pipe.text_encoder.config.hidden_size)
    generator = torch.Generator().manual_seed(11)
    if family_of(pipe) is Family.SDXL:
        width_g = int(pipe.text_encoder_2.config.hidden_size)
        save_file(
            {
                "clip_l": torch.randn(2, width, generator=generator),
                "clip_g": torch.randn(2, width_g, generator=generator),
            },
            str(folder / f"{STYLE}.safetensors"),
        )
        noop = {
            "clip_l": _word_vector(pipe.tokenizer, pipe.text_encoder),
            "clip_g": _word_vector(pipe.tokenizer_2, pipe.text_encoder_2),
        }
        save_file(noop, str(folder / f"{NOOP}.safetensors"))
        return folder
    style = {"string_to_param": {"*": torch.randn(2, width, generator=generator)}, "name": STYLE}
    torch.save(style, folder / f"{STYLE}.pt")  # A1111's trainer writes these
    save_file(
        {"emb_params": _word_vector(pipe.tokenizer, pipe.text_encoder)}, str(folder / f"{NOOP}.safetensors")
    )
    return folder
