"""The model shelf: each model loads on first use, the budget keeps the most recently used, a dropped
model's family stays known, the captioning and depth models are shared, and missing files keep what
is loaded."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app.settings import load_settings
from bot.engine.config import ModelBudget, ModelsConfig
from bot.engine.family import Family
from bot.engine.shelf import ModelShelf
from bot.errors import ModelUnavailable
from bot.jobs import GenerationRequest
from bot.params import JobParams
from bot.tiny import TinyBundle

SD15, SDXL = "tiny-sd15", "tiny-sdxl"


@pytest.fixture(scope="module")
def models(tiny_bundle: TinyBundle) -> ModelsConfig:
    return load_settings(tiny_bundle.models_env).models_config


def run(shelf: ModelShelf, model: str | None) -> str:
    result = shelf.generate(GenerationRequest(JobParams(prompt="a cat", steps=1, seed=1, model=model)))
    return result.model


def test_a_budget_of_one_swaps_and_two_keep_both(models: ModelsConfig) -> None:
    one = ModelShelf(models)
    assert [run(one, m) for m in (SD15, SDXL, None)] == [SD15, SDXL, SD15]
    assert one.loaded == (SD15,) and one.loads == 3
    assert one.capabilities(SDXL).family is Family.SDXL  # known since it loaded, though dropped
    two = ModelShelf(replace(models, budget=ModelBudget(count=2)))
    for m in (SD15, SDXL, SD15, SDXL):
        run(two, m)
    assert two.loaded == (SD15, SDXL) and two.loads == 2


def test_a_budget_in_megabytes_counts_the_weights(models: ModelsConfig) -> None:
    probe = ModelShelf(models)
    sizes = {m: probe.engine(m).weight_bytes for m in (SD15, SDXL)}
    assert all(size > 0 for size in sizes.values())
    roomy = ModelShelf(replace(models, budget=ModelBudget(bytes=sum(sizes.values()))))
    tight = ModelShelf(replace(models, budget=ModelBudget(bytes=max(sizes.values()))))
    for shelf in (roomy, tight):
        shelf.engine(SD15)
        shelf.engine(SDXL)
    assert roomy.loaded == (SD15, SDXL) and tight.loaded == (SDXL,)


def test_the_captioner_is_shared_between_models(models: ModelsConfig) -> None:
    shelf = ModelShelf(replace(models, budget=ModelBudget(count=2)))
    first, second = shelf.engine(SD15), shelf.engine(SDXL)
    assert first.captioner is not None and first.captioner is second.captioner


def test_missing_files_are_refused_and_what_is_loaded_stays(models: ModelsConfig, tmp_path: Path) -> None:
    copy = tmp_path / "gone"
    shutil.copytree(models.models[SDXL].model, copy)
    moved = replace(models, models={**models.models, SDXL: replace(models.models[SDXL], model=str(copy))})
    shelf = ModelShelf(moved)
    shelf.engine(SD15)
    shutil.rmtree(copy)
    with pytest.raises(
        ModelUnavailable, match=r"^model tiny-sdxl cannot run: its files are missing \(gone\)"
    ):
        shelf.engine(SDXL)
    assert shelf.loaded == (SD15,)
