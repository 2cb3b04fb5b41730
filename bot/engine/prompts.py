"""Turn the user's prompt into what the text encoder reads, and say when it will not read all of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.engine.styles import STYLES
from bot.params import JobParams


def build_prompts(tokenizers: Sequence[Any], params: JobParams) -> tuple[str, str, tuple[str, ...]]:
    """Apply the style preset; warn (not fail) when a text encoder will cut the prompt.

    SDXL reads the prompt with both its encoders (``prompt_2`` defaults to the prompt); a part cut by
    either is ignored by it, so each prompt is reported once, for the tokenizer that keeps least."""
    prompt, negative = params.prompt, params.negative
    if params.style in STYLES:  # an operator's own style (LIKENESS_STYLE_LORAS) may be LoRAs alone
        prompt, negative = STYLES[params.style].apply(prompt, negative)
    warnings = []
    for text, what in ((prompt, "prompt"), (negative, "negative prompt")):
        cut = [w for w in (_truncation(t, text, what) for t in tokenizers if t is not None) if w]
        if cut:
            warnings.append(max(cut, key=len))
    return prompt, negative, tuple(warnings)


def _truncation(tokenizer: Any, text: str, what: str) -> str | None:
    if tokenizer is None or not text:
        return None
    limit = int(tokenizer.model_max_length)
    ids = tokenizer(text, truncation=False, add_special_tokens=True).input_ids
    if len(ids) <= limit:
        return None
    # The last kept position holds the end token, so the text ends at limit - 2 real tokens.
    dropped = tokenizer.decode(ids[limit - 1 : -1]).strip()
    preview = dropped if len(dropped) <= 60 else dropped[:57] + "…"
    return (
        f"the {what} is {len(ids) - 2} tokens; the model reads only {limit - 2}, "
        f"so this part is ignored: “{preview}”"
    )
