"""The A1111-style ``parameters`` PNG text chunk, so every output says how to make it again."""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

from bot.jobs import GenerationRequest, Mode

PARAMETERS_KEY = "parameters"


def format_parameters(
    request: GenerationRequest,
    *,
    seed: int,
    size: tuple[int, int],
    model: str,
    sampler: str,
    extra: dict[str, str] | None = None,
) -> str:
    """Render the three-line A1111 layout: prompt, negative prompt, comma-separated settings."""
    fields: dict[str, str] = {
        "Steps": str(request.steps),
        "Sampler": sampler,
        "CFG scale": f"{request.cfg:g}",
        "Seed": str(seed),
        "Size": f"{size[0]}x{size[1]}",
        "Model": model,
        "Mode": request.mode.value,
    }
    if request.mode.uses_strength and request.strength is not None:
        fields["Denoising strength"] = f"{request.strength:g}"
    if request.mode is Mode.IMAGE_PROMPT:
        fields["Image weight"] = f"{request.image_weight:g}"
    if request.mode is Mode.OUTPAINT and request.expand:
        fields["Expand"] = request.expand
    if request.mode is Mode.TEXT:
        fields["Aspect"] = request.aspect
    if request.style:
        fields["Style"] = request.style
    fields.update(extra or {})
    settings = ", ".join(f"{key}: {_clean(value)}" for key, value in fields.items())
    return f"{request.prompt}\nNegative prompt: {request.negative}\n{settings}"


def _clean(value: str) -> str:
    # Commas and newlines would split the settings line when parsed back.
    return value.replace("\n", " ").replace(",", ";")


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
    for part in settings.split(", "):
        key, _, value = part.partition(": ")
        fields[key] = value
    return fields
