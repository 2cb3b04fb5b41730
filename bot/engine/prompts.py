"""Turn the user's prompt into what the text encoder reads, and say when it will not read all of it."""

from __future__ import annotations

from typing import Any

from bot.engine.styles import STYLES
from bot.params import JobParams


def build_prompts(tokenizer: Any, params: JobParams) -> tuple[str, str, tuple[str, ...]]:
    """Apply the style preset; warn (not fail) when the tokenizer will cut the prompt."""
    prompt, negative = params.prompt, params.negative
    if params.style:
        prompt, negative = STYLES[params.style].apply(prompt, negative)
    warnings = tuple(
        w
        for w in (
            _truncation(tokenizer, prompt, "prompt"),
            _truncation(tokenizer, negative, "negative prompt"),
        )
        if w
    )
    return prompt, negative, warnings


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
