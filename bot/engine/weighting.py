"""Prompt embeddings for a weighted, BREAK-ed or long prompt, built by compel from A1111's fragments.

Why compel (2.5): it is the library diffusers' own prompt-weighting guide uses, maintained with
InvokeAI, whose prompt code it comes from. It weights embeddings with the pipeline's own tokenizer
and text encoder, so a LoRA on the text encoder and textual-inversion tokens count exactly as in
diffusers' encoding; and, not truncating, it encodes any length as A1111 does: 75-token chunks,
each between BOS and EOS and padded to 77, concatenated along the sequence. Its arithmetic is
tested in production: above 1, a token's vector moves away from the empty prompt's; below 1 it
blends toward the prompt without that fragment (0 removes it). That is compel's emphasis, not
A1111's numbers (A1111 multiplies each vector and rescales to the original mean): the same syntax,
a comparable effect.

compel gets fragments through its lower-level ``EmbeddingsProvider``, never a string (its own
syntax, ``word++``, is not A1111's). Added here, as diffusers' ``encode_prompt`` does it:
- the layer clip skip names, at any depth (compel offers only the last and next-to-last); like
  diffusers, the negative is read at the model's own layer whatever the skip;
- BREAK: each segment is encoded on its own, so it starts a new chunk;
- SDXL: both encoders' states side by side, the pooled embedding from the first chunk (A1111's);
- the negative and the prompt padded with empty-prompt chunks to the same length (A1111's
  ``pad_cond_uncond``).

The providers are made per job: making one only stores its arguments. The one thing compel
caches, the empty prompt's embedding (a weighted prompt is measured from it, and pads chunks), is
kept between jobs by ``EmptyPrompts`` instead, keyed by the encoder, the layer and the LoRAs then
active, so a job whose LoRA changes the encoder never reads another job's; that saves a text-encoder
pass per encoder and layer on every weighted job.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from compel.embeddings_provider import EmbeddingsProvider, SplitLongTextMode

from bot.prompt_syntax import Segment

EMPTY_PROMPTS_HELD = 16  # encoders × layers × LoRA sets; one is 77 × 1280 floats at most (400 KB)


class EmptyPrompts:
    """The empty prompt's hidden states, least recently used dropped past ``size``; one per engine,
    used from the worker thread only."""

    def __init__(self, size: int = EMPTY_PROMPTS_HELD) -> None:
        self.size = size
        self.encodes = 0  # text-encoder passes made for the empty prompt so far
        self._held: OrderedDict[Hashable, torch.Tensor] = OrderedDict()

    def under(self, loras: tuple[tuple[str, float], ...]) -> EmptyPromptView:
        """The view for a job with these adapters and weights active on the text encoder."""
        return EmptyPromptView(self, loras)

    def get(self, key: Hashable, encode: Callable[[], torch.Tensor]) -> torch.Tensor:
        if key in self._held:
            self._held.move_to_end(key)
            return self._held[key]
        tensor = encode()
        self.encodes += 1
        self._held[key] = tensor
        while len(self._held) > self.size:
            self._held.popitem(last=False)
        return tensor


@dataclass(frozen=True)
class EmptyPromptView:
    """The cache as one job sees it: its key carries the job's LoRA state."""

    cache: EmptyPrompts
    loras: tuple[tuple[str, float], ...]


class _LayerReader(EmbeddingsProvider):  # type: ignore[misc]  # compel ships no type hints
    """compel's provider reading the hidden states of one layer, as diffusers' ``encode_prompt``:
    ``layer`` None is the encoder's own output; SD 1.5's earlier layers pass its final layer norm."""

    def __init__(
        self,
        tokenizer: Any,
        encoder: Any,
        layer: int | None,
        normalize: bool,
        empties: EmptyPromptView | None = None,
    ) -> None:
        super().__init__(
            tokenizer,
            encoder,
            dtype_for_device_getter=lambda _device: encoder.dtype,
            truncate=False,  # chunks of 75, as many as the prompt needs
            split_long_text_mode=SplitLongTextMode.BRUTAL,  # at 75 tokens, each chunk on its own
        )
        self.layer, self.normalize, self.empties = layer, normalize, empties
        self.pooled: dict[tuple[int, ...], torch.Tensor] = {}  # SDXL's projection, by unmasked chunk

    @property
    def empty_z(self) -> torch.Tensor:
        """compel's empty-prompt embedding, from the engine's cache when there is one (the encoder
        is the engine's for its whole life, so its id is a stable key)."""
        if self.empties is None:
            return EmbeddingsProvider.empty_z.fget(self)  # type: ignore[no-any-return]
        key = (id(self.text_encoder), self.layer, self.normalize, self.empties.loras)
        return self.empties.cache.get(key, lambda: EmbeddingsProvider.empty_z.fget(self))

    def _encode_token_ids_to_embeddings(
        self, token_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None  # diffusers passes none: the same call, the same numbers
        output = self.text_encoder(
            token_ids, attention_mask=attention_mask, output_hidden_states=self.layer is not None
        )
        if attention_mask is None and getattr(output, "text_embeds", None) is not None:
            # the pooled embedding comes from the same pass: kept, so SDXL needs no second one
            for row, embeds in zip(token_ids.tolist(), output.text_embeds, strict=True):
                self.pooled[tuple(row)] = embeds[None]
        if self.layer is None:
            return output.last_hidden_state  # type: ignore[no-any-return]
        hidden: torch.Tensor = output.hidden_states[self.layer]
        if self.normalize:  # transformers 5.6 flattened CLIPTextModel: no ``text_model`` inside
            encoder: Any = self.text_encoder
            hidden = getattr(encoder, "text_model", encoder).final_layer_norm(hidden)
        return hidden


def prompt_embeddings(
    pipe: Any,
    prompt: tuple[Segment, ...],
    negative: tuple[Segment, ...] | None,
    skip: int | None,
    empties: EmptyPromptView | None = None,
) -> dict[str, torch.Tensor]:
    """The pipeline's ``prompt_embeds`` (and SDXL's pooled ones) for the parsed prompt and negative;
    ``negative`` None leaves the negative to diffusers (SDXL's zeros for an empty one). ``skip`` is
    diffusers' clip skip (A1111's less one)."""
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    pairs = [(pipe.tokenizer, pipe.text_encoder)]
    if sdxl:
        pairs.append((pipe.tokenizer_2, pipe.text_encoder_2))
    with torch.no_grad():
        readers = [_reader(t, e, skip, sdxl, empties) for t, e in pairs]
        states = [_encode(pipe, reader, prompt) for reader in readers]
        arguments: dict[str, torch.Tensor] = {}
        if negative is not None:
            # the negative at the model's own layer: without a skip, the same readers (one empty prompt)
            against = readers if skip is None else [_reader(t, e, None, sdxl, empties) for t, e in pairs]
            negatives = [_encode(pipe, reader, negative) for reader in against]
            for i in range(len(pairs)):
                states[i], negatives[i] = _padded(states[i], readers[i], negatives[i], against[i])
            arguments["negative_prompt_embeds"] = torch.cat(negatives, dim=-1)
            if sdxl:
                arguments["negative_pooled_prompt_embeds"] = _pooled(pipe, against[-1], negative)
        arguments["prompt_embeds"] = torch.cat(states, dim=-1)
        if sdxl:
            arguments["pooled_prompt_embeds"] = _pooled(pipe, readers[-1], prompt)
    return arguments


def _reader(
    tokenizer: Any, encoder: Any, skip: int | None, sdxl: bool, empties: EmptyPromptView | None
) -> _LayerReader:
    """SDXL reads each encoder's next-to-last layer, so its skip counts from there."""
    if sdxl:
        return _LayerReader(tokenizer, encoder, -((skip or 0) + 2), False, empties)
    return _LayerReader(tokenizer, encoder, -(skip + 1) if skip else None, True, empties)


def _fragments(pipe: Any, reader: _LayerReader, segment: Segment) -> tuple[list[str], list[float]]:
    """A segment's texts as this encoder's tokenizer reads them: a multi-vector embedding's name
    spelled out as diffusers does (``name name_1 …``), fragments without a token left out (compel
    cannot place them), an empty segment as the empty prompt."""
    texts, weights = [], []
    for fragment in segment:
        text = pipe.maybe_convert_prompt(fragment.text, reader.tokenizer)
        if reader.tokenizer(text, add_special_tokens=False).input_ids:
            texts.append(text)
            weights.append(fragment.weight)
    return (texts, weights) if texts else ([""], [1.0])


def _encode(pipe: Any, reader: _LayerReader, segments: Sequence[Segment]) -> torch.Tensor:
    """``(1, 77 × chunks, width)``: each segment in chunks of its own, one after another."""
    parts = []
    for segment in segments:
        texts, weights = _fragments(pipe, reader, segment)
        parts.append(
            reader.get_embeddings_for_weighted_prompt_fragments([texts], [weights], device=reader.device)
        )
    return torch.cat(parts, dim=1)


def _padded(
    states: torch.Tensor, reader: _LayerReader, negative: torch.Tensor, against: _LayerReader
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as long as the longer, the shorter followed by empty-prompt chunks of its own layer."""
    chunks = max(states.shape[1], negative.shape[1]) // reader.max_token_count

    def pad(tensor: torch.Tensor, by: _LayerReader) -> torch.Tensor:
        missing = chunks - tensor.shape[1] // by.max_token_count
        return torch.cat([tensor, *[by.empty_z.to(tensor)] * missing], dim=1) if missing else tensor

    return pad(states, reader), pad(negative, against)


def _pooled(pipe: Any, reader: _LayerReader, segments: Sequence[Segment]) -> torch.Tensor:
    """SDXL's pooled embedding: the second encoder's projection of the first chunk, unweighted."""
    texts, weights = _fragments(pipe, reader, segments[0])
    ids, _, _ = reader.get_token_ids_and_expand_weights(texts, weights, device=reader.device)
    first = ids[None, : reader.max_token_count]
    held = reader.pooled.get(tuple(first[0].tolist()))
    if held is not None:
        return held
    pooled: torch.Tensor = reader.text_encoder(first).text_embeds
    return pooled
