"""The tiny Florence-2 and Depth Anything models through the bot's real loaders, offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bot.engine.captions import Captioner
from bot.engine.structure import DepthEstimator
from bot.engine.suggest import Captions
from bot.errors import ModelUnavailable
from bot.tiny.vision import save_tiny_depth, save_tiny_florence


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-vision")
    save_tiny_florence(root / "florence")
    save_tiny_depth(root / "depth")
    return {"florence": root / "florence", "depth": root / "depth"}


@pytest.fixture(scope="module")
def captioner(folders: dict[str, Path]) -> Captioner:
    return Captioner(str(folders["florence"]), offline=True)


def _noise(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("detail", [False, True])
def test_captions_are_strings_for_both_detail_levels(captioner: Captioner, detail: bool) -> None:
    captions = captioner.captions(_noise(64, 48, 1), detail=detail)
    assert isinstance(captions, Captions)
    assert all(isinstance(text, str) for text in (captions.short, captions.detailed, captions.more_detailed))
    assert all(text == text.strip() for text in (captions.short, captions.detailed, captions.more_detailed))


def test_captioner_loads_once_and_is_deterministic(captioner: Captioner) -> None:
    image = _noise(64, 48, 2)
    first = captioner.captions(image)
    loaded = captioner.load()
    assert captioner.captions(image) == first
    assert captioner.load()[1] is loaded[1] and captioner.load()[0] is loaded[0]


def test_missing_caption_model_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="LIKENESS_CAPTION_MODEL"):
        Captioner(str(tmp_path / "absent"), offline=True).captions(_noise(32, 32, 3))


def _assert_depth_maps(depth_map: Callable[[Image.Image], Image.Image]) -> None:
    first, second = depth_map(_noise(64, 48, 4)), depth_map(_noise(64, 48, 5))
    assert first.mode == "RGB" and first.size == (64, 48) and second.size == (64, 48)
    assert not np.array_equal(np.asarray(first), np.asarray(second))


def test_depth_map_is_rgb_at_the_input_size_and_follows_the_input(folders: dict[str, Path]) -> None:
    _assert_depth_maps(DepthEstimator(str(folders["depth"]), offline=True).depth_map)


def test_output_of_only_special_tokens_is_an_empty_caption(
    folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = Captioner(str(folders["florence"]), offline=True)
    processor, model = fresh.load()
    ids = processor.tokenizer
    only_special = torch.tensor([[ids.eos_token_id, ids.bos_token_id, ids.eos_token_id, ids.pad_token_id]])
    monkeypatch.setattr(model, "generate", lambda **_: only_special)
    assert fresh.captions(_noise(64, 48, 6), detail=True) == Captions(short="", detailed="", more_detailed="")
