"""Textual-inversion embeddings (``LIKENESS_EMBEDDING_DIR``), used as A1111 uses them: by the file's
name as a word of the prompt or the negative (``EasyNegative``).

A file is read in any of the layouts model sites ship: A1111's ``.pt`` (``string_to_param``, read
with torch's weights-only loader and only on a torch where that is safe) or ``.safetensors``
(``emb_params``), diffusers' (one key), or SDXL's (``clip_l`` and ``clip_g``, one per text encoder).
Its vectors go to diffusers' own ``load_textual_inversion`` the first time a job names it, and stay:
the pipelines of every mode share the tokenizers and text encoders, so they all read it. An
embedding whose widths do not fit the model's text encoders (the other family) is refused by name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bot.engine.family import Family
from bot.engine.folders import WeightFolder
from bot.engine.hashes import SHORT_HASH_CHARS, sha256_of
from bot.engine.pickles import refuse_pickle
from bot.errors import InvalidRequest, ModelUnavailable

log = logging.getLogger(__name__)

SUFFIXES = (".safetensors", ".pt")


@dataclass(frozen=True, slots=True)
class Embedding:
    """One file of the folder: its name (the word that calls it), and its vectors per encoder."""

    name: str
    path: Path
    vectors: tuple[torch.Tensor, ...]  # (clip_l,) for SD 1.5, (clip_l, clip_g) for SDXL
    problem: str | None = None

    @property
    def family(self) -> Family:
        return Family.SDXL if len(self.vectors) == 2 else Family.SD15


class EmbeddingLibrary:
    """The folder, read again whenever a file is new, gone or rewritten."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._folder = WeightFolder(folder, SUFFIXES, lambda path, _size: _read(path), _whole_hash)

    def files(self) -> list[Embedding]:
        return self._folder.files()

    def used(self, *texts: str) -> list[Embedding]:
        """The embeddings these prompts name, each once, in folder order."""
        joined = "\n".join(texts)
        return [e for e in self.files() if re.search(rf"(?<![\w-]){re.escape(e.name)}(?![\w-])", joined)]

    def check(self, texts: tuple[str, ...], family: Family | None) -> list[Embedding]:
        """The named embeddings, each readable and of ``family`` (None: not known yet)."""
        used = self.used(*texts)
        for embedding in used:
            if embedding.problem is not None:
                raise InvalidRequest(f"the embedding “{embedding.name}” cannot be used: {embedding.problem}")
            if family is not None and embedding.family is not family:
                raise InvalidRequest(
                    f"the embedding “{embedding.name}” is made for {embedding.family.label}, but this bot "
                    f"runs an {family.label} model: leave it out of the prompt, or use an {family.label} one"
                )
        return used

    def short_hash(self, embedding: Embedding) -> str:
        """A1111's ``TI hashes`` value: the whole file's sha256, 12 digits (read once per version)."""
        return self._folder.hash(embedding.path)


class ActiveEmbeddings:
    """The embeddings loaded into one set of pipelines; used from the worker thread only."""

    def __init__(self, library: EmbeddingLibrary) -> None:
        self.library = library
        self._loaded: dict[str, Embedding] = {}  # by name: the version its vectors came from

    def activate(self, pipe: Any, texts: tuple[str, ...], family: Family) -> list[Embedding]:
        used = self.library.check(texts, family)
        encoders = list(_encoders(pipe))
        for embedding in used:
            if self._loaded.get(embedding.name) is embedding:
                continue
            for vectors, (tokenizer, encoder) in zip(embedding.vectors, encoders, strict=True):
                width = int(encoder.get_input_embeddings().weight.shape[1])
                if vectors.shape[1] != width:
                    raise InvalidRequest(
                        f"the embedding “{embedding.name}” is made for another model (its vectors are "
                        f"{vectors.shape[1]} wide, this model's text encoder reads {width})"
                    )
                if embedding.name in tokenizer.get_vocab() and embedding.name not in self._loaded:
                    raise InvalidRequest(
                        f"the embedding “{embedding.name}” has the name of a word the model already knows: "
                        "the operator renames its file"
                    )
            old = self._loaded.pop(embedding.name, None)
            if old is not None:  # a rewritten file: its old vectors out first
                for tokenizer, encoder in encoders:
                    pipe.unload_textual_inversion(_tokens(old), tokenizer=tokenizer, text_encoder=encoder)
            for vectors, (tokenizer, encoder) in zip(embedding.vectors, encoders, strict=True):
                pipe.load_textual_inversion(
                    vectors.to(encoder.dtype), token=embedding.name, tokenizer=tokenizer, text_encoder=encoder
                )
            self._loaded[embedding.name] = embedding
            count = int(embedding.vectors[0].shape[0])
            log.info("loaded embedding %s (%s, %d vectors)", embedding.name, embedding.family.label, count)
        return used


def _whole_hash(path: Path) -> str:
    return sha256_of(path)[:SHORT_HASH_CHARS]


def _tokens(embedding: Embedding) -> list[str]:
    """The tokens diffusers adds for an embedding of N vectors: NAME, NAME_1 … NAME_{N-1}."""
    count = int(embedding.vectors[0].shape[0])
    return [embedding.name, *(f"{embedding.name}_{i}" for i in range(1, count))]


def _encoders(pipe: Any) -> Iterator[tuple[Any, Any]]:
    yield pipe.tokenizer, pipe.text_encoder
    if getattr(pipe, "text_encoder_2", None) is not None:
        yield pipe.tokenizer_2, pipe.text_encoder_2


def _read(path: Path) -> Embedding:
    name = path.stem
    try:
        state = _state(path)
        if "clip_l" in state and "clip_g" in state:
            vectors: tuple[torch.Tensor, ...] = (state["clip_l"], state["clip_g"])
        elif "string_to_param" in state:
            vectors = (state["string_to_param"]["*"],)
        elif "emb_params" in state:
            vectors = (state["emb_params"],)
        elif len(state) == 1 and isinstance(next(iter(state.values())), torch.Tensor):
            vectors = (next(iter(state.values())),)  # diffusers: {"<token>": vectors}
        else:
            return Embedding(name, path, (), "it holds no embedding layout this bot knows")
        vectors = tuple(v.detach().float().reshape(-1, v.shape[-1]) for v in vectors)
    except ModelUnavailable as exc:  # a pickle on a torch that cannot read one safely
        return Embedding(name, path, (), str(exc))
    except Exception as exc:
        return Embedding(name, path, (), f"it is not a readable embedding ({type(exc).__name__})")
    return Embedding(name, path, vectors)


def _state(path: Path) -> dict[str, Any]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    refuse_pickle(path.name, "LIKENESS_EMBEDDING_DIR")
    return dict(torch.load(path, map_location="cpu", weights_only=True))
