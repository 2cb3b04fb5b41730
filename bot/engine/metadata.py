"""The A1111-style ``parameters`` PNG text chunk, so every output says how to make it again."""

from __future__ import annotations

import io
import json
import os
import re

from PIL import Image, PngImagePlugin

from bot.params import JobParams, shown, value_text

PARAMETERS_KEY = "parameters"
HASHES = "Hashes"
# One "Key: value" of the settings line; a quoted value may hold commas (A1111's own parser).
_SETTING = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
LOCAL_MODEL = "local model"  # when a local path has no usable last part
# A Hugging Face repo id: "org/name" (letters, digits, - _ .), or a bare legacy "name".
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pth", ".pt", ".gguf")
_HUB_CACHE_FOLDER = re.compile(r"models--([\w.-]+?)--([\w.-]+)")  # huggingface cache: models--org--name


def public_model_name(model: str) -> str:
    """The model as named in public PNGs: never the operator's path (user name, folder layout).

    A hub id stays as it is ("org/name"); a local folder or file becomes its last part without a
    weights extension ("/home/op/models/realvis" → "realvis", "C:\\models\\x.safetensors" → "x"),
    and a folder in the huggingface cache its repo id ("…/models--org--name/snapshots/…" → "org/name").
    """
    text = model.strip()
    # diffusers loads an existing folder in preference to the hub, so "org/name" on disk is local.
    if _HUB_ID.fullmatch(text) and not os.path.exists(text):
        return text
    parts = [part for part in re.split(r"[\\/]+", text) if part not in ("", ".", "..")]
    for part in reversed(parts):
        cached = _HUB_CACHE_FOLDER.fullmatch(part)
        if cached:
            return f"{cached.group(1)}/{cached.group(2)}"
    name = parts[-1] if parts else ""
    for suffix in _WEIGHT_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    if not name or re.fullmatch(r"[A-Za-z]:", name):  # a bare root or drive
        return LOCAL_MODEL
    return name


# Written first, in A1111's order, with the engine's own Size and Model between them.
_CORE = ("Steps", "Sampler", "Schedule type", "CFG scale", "Seed")


def format_parameters(
    params: JobParams,
    *,
    seed: int,
    size: tuple[int, int],
    model: str,
    model_hash: str | None = None,
    extra: dict[str, str] | None = None,
    hashes: dict[str, str] | None = None,
) -> str:
    """Render the three-line A1111 layout: prompt, negative prompt, comma-separated settings.

    Every setting that applies to the job's mode is written under its ``Rule.png`` key, so a new
    option appears here without a change to this function."""
    fields: dict[str, str] = {
        "Steps": str(params.steps),
        "Sampler": str(params.sampler),
        "Schedule type": str(params.schedule),
        "CFG scale": f"{params.cfg:g}",
        "Seed": str(seed),
        "Size": f"{size[0]}x{size[1]}",
        **({"Model hash": model_hash} if model_hash else {}),
        "Model": model,
        "Mode": params.mode.value,
    }
    for rule, value in shown(params):
        if rule.png is not None and rule.png not in _CORE:
            fields[rule.png] = value_text(value)
    fields.update(extra or {})
    settings = ", ".join(f"{key}: {_quote(value)}" for key, value in fields.items())
    resources = {**({"model": model_hash} if model_hash else {}), **(hashes or {})}
    if resources:  # Civitai's field, read by PNG readers that split the rest on commas: JSON, unquoted
        settings += f", {HASHES}: {json.dumps(resources, ensure_ascii=False)}"
    prompt = ", ".join([params.prompt, *(use.tag for use in params.loras)])  # A1111 keeps LoRAs in the prompt
    return f"{prompt}\nNegative prompt: {params.negative}\n{settings}"


def _quote(value: str) -> str:
    """A1111's rule: a value with a comma (which would split the settings line) is a JSON string."""
    value = value.replace("\n", " ")
    return json.dumps(value, ensure_ascii=False) if "," in value else value


def encode_png(image: Image.Image, parameters: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, parameters)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, optimize=False, compress_level=6)
    return buffer.getvalue()


def read_parameters(png: bytes) -> dict[str, str]:
    """Parse a ``parameters`` chunk back into fields (prompt, negative and each setting)."""
    with Image.open(io.BytesIO(png)) as image:
        text = image.text.get(PARAMETERS_KEY) if hasattr(image, "text") else None
    if text is None:
        return {}
    prompt, negative_line, settings = text.rsplit("\n", 2)
    fields = {"prompt": prompt, "negative": negative_line.removeprefix("Negative prompt: ")}
    settings, _, resources = settings.partition(f", {HASHES}: {{")
    if resources:
        fields[HASHES] = "{" + resources
    for match in _SETTING.finditer(settings):
        key, value = match.group(1), match.group(2).strip()
        fields[key] = json.loads(value) if value.startswith('"') else value
    return fields
