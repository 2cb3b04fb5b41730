"""The NSFW check in the engine, through the real transformers loaders on the tiny bundle's ViT: one
score per kept candidate, steered by the picture (a white inpaint is flagged, a black one is not),
shared by every model's engine, off with ``none``, and clear refusals for a classifier that cannot be
used."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.engine.nsfw import NsfwClassifier
from bot.engine.shelf import ModelShelf
from bot.errors import ModelUnavailable
from bot.params import Mode
from bot.tiny import TinyBundle
from bot.tiny.bundle import MODEL_NAMES
from bot.tiny.nsfw import build_tiny_nsfw
from tests.bot.engine.helpers import box_mask, gradient_image, job_request, save


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("nsfw")
    return {
        "white": save(Image.new("RGB", (64, 64), "white"), folder / "white.png"),
        "black": save(Image.new("RGB", (64, 64), "black"), folder / "black.png"),
        "photo": save(gradient_image(64, 64), folder / "photo.png"),
        "mask": save(box_mask(64, 64, (16, 16, 48, 48)), folder / "mask.png"),
    }


def test_the_tiny_classifier_loads_through_transformers_and_follows_brightness(
    tiny_bundle: TinyBundle,
) -> None:
    classifier = NsfwClassifier(str(tiny_bundle.nsfw_model), offline=True)
    grey = [Image.new("RGB", (48, 48), (v, v, v)) for v in (0, 96, 160, 255)]
    scores = classifier.scores(grey)
    assert scores == sorted(scores) and scores[0] < 0.01 and scores[-1] > 0.99
    assert classifier.scores([grey[1]]) == pytest.approx([scores[1]])  # a batch scores each alone
    assert classifier.scores([]) == []
    assert classifier.load() is classifier.load()  # loaded once


def test_every_kept_candidate_gets_a_score_and_the_png_carries_none(engine: Engine) -> None:
    assert engine.nsfw is not None, "the tiny bundle configures the classifier"
    result = engine.generate(job_request(prompt="a lighthouse", seed=3, candidates=2, steps=2))
    scores = [c.nsfw for c in result.candidates]
    assert all(s is not None and 0 < s < 0.5 for s in scores), scores  # the tiny model's grey noise
    assert scores[0] != scores[1]  # steep enough for a threshold between two candidates
    assert all(b"nsfw" not in c.parameters.lower().encode() for c in result.candidates)
    again = engine.generate(job_request(prompt="a lighthouse", seed=3, candidates=2, steps=2))
    assert [c.nsfw for c in again.candidates] == scores  # the same seed, the same verdict


@pytest.mark.parametrize(("picture", "flagged"), [("white", True), ("black", False), ("photo", False)])
def test_an_inpainted_picture_steers_the_verdict(
    engine: Engine, pictures: dict[str, Path], picture: str, flagged: bool
) -> None:
    request = job_request(
        prompt="a door", mode=Mode.INPAINT, image=pictures[picture], mask=pictures["mask"], steps=2
    )
    [candidate] = engine.generate(request).candidates
    assert candidate.nsfw is not None and (candidate.nsfw >= 0.5) is flagged, candidate.nsfw


def test_none_turns_the_check_off(tiny_bundle: TinyBundle) -> None:
    settings = load_settings(tiny_bundle.env_file, nsfw_model="none")
    assert settings.engine_config.nsfw_model is None
    engine = Engine.load(settings.engine_config)
    assert engine.nsfw is None
    [candidate] = engine.generate(job_request(prompt="a lighthouse", steps=2)).candidates
    assert candidate.nsfw is None


def test_every_models_engine_shares_one_classifier(tiny_bundle: TinyBundle) -> None:
    models = load_settings(tiny_bundle.models_env, model_cache="2").models_config
    shelf = ModelShelf(models)
    first, second = (shelf.engine(MODEL_NAMES[family]) for family in MODEL_NAMES)
    assert first.nsfw is not None and first.nsfw is second.nsfw


def test_a_classifier_that_cannot_be_used_stops_the_load_naming_the_setting(
    tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    config = load_settings(tiny_bundle.env_file).engine_config
    with pytest.raises(ModelUnavailable, match=r"no such folder .*LIKENESS_NSFW_MODEL=none"):
        Engine.load(replace(config, nsfw_model=str(tmp_path / "missing")))
    model, processor = build_tiny_nsfw()
    model.config.id2label = {0: "cat", 1: "dog"}
    model.save_pretrained(tmp_path / "pets")
    processor.save_pretrained(tmp_path / "pets")
    with pytest.raises(ModelUnavailable, match=r"has no 'nsfw' label \(its labels: cat, dog\)"):
        Engine.load(replace(config, nsfw_model=str(tmp_path / "pets")))
