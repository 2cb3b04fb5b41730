"""Textual-inversion embeddings by name in the prompt, through diffusers' own loader, on both
families: an embedding changes the picture, one holding a word's vector changes nothing (bit for
bit), the PNG records A1111's TI hashes, and one of the other family is refused before queueing."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bot.app.settings import load_settings
from bot.engine.checks import Capabilities, check_inputs
from bot.engine.embeddings import EmbeddingLibrary
from bot.engine.engine import Engine
from bot.engine.family import Family
from bot.engine.metadata import read_parameters
from bot.engine.pickles import PICKLE_SUFFIXES
from bot.errors import InvalidRequest
from bot.params import JobParams, resolve
from bot.tiny import TinyBundle
from bot.tiny.embeddings import NOOP, NOOP_WORD, STYLE
from tests.bot.engine.helpers import job_request, pixels


def run(engine: Engine, prompt: str, negative: str = "") -> tuple[np.ndarray, dict[str, str]]:
    png = engine.generate(job_request(prompt=prompt, negative=negative, steps=3, seed=5)).candidates[0].png
    return pixels(png), read_parameters(png)


def whole_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]  # A1111 hashes an embedding's whole file


@pytest.fixture(scope="module")
def sdxl_engine(tiny_sdxl_bundle: TinyBundle) -> Engine:
    return Engine.load(load_settings(tiny_sdxl_bundle.env_file).engine_config)


@pytest.mark.parametrize("family", [Family.SD15, Family.SDXL])
def test_an_embedding_changes_the_picture_and_a_words_vector_does_not(
    engine: Engine, sdxl_engine: Engine, tiny_bundle: TinyBundle, tiny_sdxl_bundle: TinyBundle, family: Family
) -> None:
    chosen, bundle = (sdxl_engine, tiny_sdxl_bundle) if family is Family.SDXL else (engine, tiny_bundle)
    plain, plain_fields = run(chosen, "a lighthouse")
    styled, fields = run(chosen, f"a lighthouse, {STYLE}")
    assert not np.array_equal(styled, run(chosen, "a lighthouse, ")[0])
    assert np.array_equal(run(chosen, f"a {NOOP}")[0], run(chosen, f"a {NOOP_WORD}")[0])  # bit for bit
    style_file = next(p for p in bundle.embedding_dir.iterdir() if p.stem == STYLE)
    assert fields["TI hashes"] == f"{STYLE}: {whole_hash(style_file)}"
    assert json.loads(fields["Hashes"])[f"embed:{STYLE}"] == whole_hash(style_file)
    assert fields["prompt"] == f"a lighthouse, {STYLE}"  # the prompt as written
    assert "TI hashes" not in plain_fields
    assert not np.array_equal(plain, styled)


def test_an_embedding_in_the_negative_counts_too(engine: Engine) -> None:
    plain, _ = run(engine, "a lighthouse", "blurry")
    negated, fields = run(engine, "a lighthouse", f"blurry, {STYLE}")
    assert not np.array_equal(plain, negated) and fields["TI hashes"].startswith(f"{STYLE}: ")


def test_an_embedding_of_the_other_family_is_refused_before_queueing(
    tiny_bundle: TinyBundle, tiny_sdxl_bundle: TinyBundle
) -> None:
    library = EmbeddingLibrary(tiny_sdxl_bundle.embedding_dir)
    caps = Capabilities(True, None, Family.SD15)
    params = resolve(JobParams(prompt=f"a cat, {STYLE}"))
    with pytest.raises(
        InvalidRequest, match=f"the embedding “{STYLE}” is made for SDXL, but this bot runs an SD 1.5"
    ):
        check_inputs(params, caps, image=False, mask=False, identity=None, embeddings=library)
    check_inputs(
        resolve(JobParams(prompt="a cat")), caps, image=False, mask=False, identity=None, embeddings=library
    )


def test_a_rewritten_embedding_is_read_again_and_a_pickle_waits_for_a_safe_torch(
    tiny_bundle: TinyBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "embeddings"
    shutil.copytree(tiny_bundle.embedding_dir, folder)
    config = replace(load_settings(tiny_bundle.env_file).engine_config, embedding_dir=folder)
    engine = Engine.load(config)
    first, _ = run(engine, f"a {STYLE}")
    pt = folder / f"{STYLE}.pt"
    assert pt.suffix in PICKLE_SUFFIXES
    state = torch.load(pt, weights_only=True)
    state["string_to_param"]["*"] = state["string_to_param"]["*"] * 3
    torch.save(state, pt)
    assert not np.array_equal(run(engine, f"a {STYLE}")[0], first)
    monkeypatch.setattr("bot.engine.pickles.torch_version", lambda: "2.5.1")
    torch.save(state, pt)  # a new version, read again
    with pytest.raises(
        InvalidRequest, match=rf"“{STYLE}” cannot be used: {STYLE}\.pt is a pickle file.*CVE-2025-32434"
    ):
        run(engine, f"a {STYLE}")
