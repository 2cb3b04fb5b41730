"""/describe without the diffusion model: the captioner and the model family are all it needs.

The engine describes with its loaded family; the command line describes before (and without)
loading any diffusion weights, so it reads the family from the model's files instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.engine.captions import Captioner
from bot.engine.family import Family
from bot.engine.images import load_image
from bot.engine.single_file import is_single_file, single_file_family
from bot.engine.suggest import suggest


def prompts_for(
    captioner: Captioner, image: Any, family: Family, *, detailed: bool = False
) -> tuple[str, ...]:
    """Short, detailed and two variant prompts for the picture at ``image`` (a path or bytes)."""
    picture = load_image(image, what="image")
    return tuple(s.prompt for s in suggest(captioner.captions(picture, detail=detailed), family))


def family_from_files(model: str, model_config: str | None = None) -> Family | None:
    """The family of ``LIKENESS_MODEL`` from its files (a single file, a folder, or a hub id in the
    local cache), without loading it; None when nothing local says."""
    if is_single_file(model):
        path = Path(model).expanduser()
        return single_file_family(path, model_config) if path.is_file() else None
    index = Path(model).expanduser() / "model_index.json"
    if not index.is_file():
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "model_index.json")
        if not isinstance(cached, str):
            return None
        index = Path(cached)
    name = str(json.loads(index.read_text(encoding="utf-8")).get("_class_name", ""))
    return Family.SDXL if "XL" in name else Family.SD15
