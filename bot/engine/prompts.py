"""Turn the user's prompt into the pipeline's prompt arguments, in A1111's syntax.

A prompt and negative that weight nothing, BREAK nowhere and fit one chunk go to the pipeline as
text, so diffusers encodes them as it always has (the same pixels as before weights existed, and
``(word:1)`` reads as ``word``). Anything else goes as embeddings from ``bot.engine.weighting``:
weighted, and as long as the prompt is, in 75-token chunks, so nothing is cut.
"""

from __future__ import annotations

from typing import Any

from bot.engine.styles import STYLES
from bot.engine.weighting import EmptyPromptView, prompt_embeddings
from bot.params import JobParams
from bot.prompt_syntax import parse, plain_text


def build_prompts(params: JobParams) -> tuple[str, str]:
    """The prompt and negative with the style preset applied (an operator's own style,
    ``LIKENESS_STYLE_LORAS``, may be LoRAs alone and change no text)."""
    prompt, negative = params.prompt, params.negative
    if params.style in STYLES:
        prompt, negative = STYLES[params.style].apply(prompt, negative)
    return prompt, negative


def prompt_arguments(
    pipe: Any, prompt: str, negative: str, clip_skip: int | None, empties: EmptyPromptView | None = None
) -> dict[str, Any]:
    """The pipeline's prompt keywords: text when it reads as plain text in one chunk, embeddings
    otherwise. ``clip_skip`` is diffusers' (A1111's less one); ``empties`` keeps the empty prompt's
    encoding between jobs (None: encoded afresh)."""
    segments, against = parse(prompt), parse(negative, "negative prompt")
    text, negative_text = plain_text(segments), plain_text(against)
    if text is not None and negative_text is not None and _fits(pipe, text) and _fits(pipe, negative_text):
        return {"prompt": text, "negative_prompt": negative_text or None, "clip_skip": clip_skip}
    # an empty negative is diffusers' to make, as with text: SDXL models zero it out
    zeros = negative_text == "" and bool(pipe.config.get("force_zeros_for_empty_prompt", False))
    return prompt_embeddings(pipe, segments, None if zeros else against, clip_skip, empties)


def _fits(pipe: Any, text: str) -> bool:
    """Whether every text encoder reads all of ``text`` in one 77-token window (after diffusers
    spells out multi-vector embeddings, as its own encoding does)."""
    for tokenizer in (pipe.tokenizer, getattr(pipe, "tokenizer_2", None)):
        if tokenizer is None:
            continue
        spelled = pipe.maybe_convert_prompt(text, tokenizer)
        if len(tokenizer(spelled, truncation=False).input_ids) > tokenizer.model_max_length:
            return False
    return True
