"""/describe in the engine, through the real Florence-2 loaders on the tiny bundle: four prompts of
the model's family, a prompt left to the image, and the refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.engine.metadata import read_parameters
from bot.engine.suggest import SD15_TAGS
from bot.errors import InvalidRequest
from bot.params import Mode
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import gradient_image, job_request, save


@pytest.fixture(scope="module")
def sdxl(tiny_sdxl_bundle: TinyBundle) -> Iterator[Engine]:
    yield Engine.load(load_settings(tiny_sdxl_bundle.env_file).engine_config)


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(gradient_image(96, 64), tmp_path_factory.mktemp("describe") / "photo.png")


def describe(engine: Engine, image: Path | None, detail: str = "standard") -> tuple[str, ...]:
    job = job_request(prompt="", mode=Mode.IMG2IMG, image=image, describe=detail)
    result = engine.generate(job)
    assert result.candidates == ()
    return result.suggestions


@pytest.mark.parametrize("detail", ["standard", "detailed"])
def test_four_usable_prompts_the_same_every_time(engine: Engine, photo: Path, detail: str) -> None:
    prompts = describe(engine, photo, detail)
    assert len(prompts) == 4 and all(p.strip() for p in prompts)
    assert all(p.endswith(SD15_TAGS) for p in prompts)  # SD 1.5 reads a sentence, then plain tags
    assert describe(engine, photo, detail) == prompts
    assert engine.captioner is not None and engine.captioner.load() is engine.captioner.load()  # once


def test_sdxl_gets_natural_sentences(sdxl: Engine, photo: Path) -> None:
    prompts = describe(sdxl, photo)
    assert len(prompts) == 4 and all(p.endswith(".") and SD15_TAGS not in p for p in prompts)


def test_a_prompt_left_out_is_the_images_detailed_description(engine: Engine, photo: Path) -> None:
    detailed = engine.suggestions(photo)[1]
    result = engine.generate(job_request(prompt="<lora:ink:0.5>", mode=Mode.IMG2IMG, image=photo, steps=3))
    assert result.params.prompt == detailed
    assert read_parameters(result.candidates[0].png)["prompt"] == f"{detailed}, <lora:ink:0.5>"
    assert result.warnings[0] == f"no prompt was given, so the image was described: “{detailed}”"


def test_without_a_caption_model_both_are_refused_clearly(engine: Engine, photo: Path) -> None:
    bare = Engine(engine.pipes, engine.model_name)
    with pytest.raises(InvalidRequest, match=r"^describing images is off on this bot \(the operator sets "):
        describe(bare, photo)
    with pytest.raises(InvalidRequest, match=r"^give a prompt: it cannot be written from the image"):
        bare.generate(job_request(prompt="", mode=Mode.IMG2IMG, image=photo, steps=3))


def test_describe_needs_an_image(engine: Engine) -> None:
    with pytest.raises(InvalidRequest, match="describe needs an image: attach the picture"):
        describe(engine, None)
