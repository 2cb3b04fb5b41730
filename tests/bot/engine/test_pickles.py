"""Pickle-format weights on a torch whose weights-only loader can be bypassed (CVE-2025-32434): each
kind the engine reads (a ``.ckpt`` checkpoint, a FaceID ``.bin``, a diffusers folder of ``.bin``
files) is refused with the reason, while the same file loads on the torch that runs here."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import load_file

from bot.app.settings import load_settings
from bot.engine import pickles
from bot.engine.config import AdapterSource, EngineConfig
from bot.engine.engine import Engine
from bot.errors import ModelUnavailable
from bot.tiny import TinyBundle

REFUSED = r"torch 2\.5\.1 .*CVE-2025-32434"


def config_of(bundle: TinyBundle, **changes: object) -> EngineConfig:
    return replace(load_settings(bundle.env_file).engine_config, **{"name": "", **changes})  # type: ignore[arg-type]


@pytest.fixture
def old_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickles, "torch_version", lambda: "2.5.1+cu121")


@pytest.mark.parametrize(
    ("version", "safe"),
    [("2.4.0", False), ("2.5.1+cu121", False), ("2.6.0", True), ("2.13.0+cpu", True), ("3.0.0a0", True)],
)
def test_only_torch_2_6_and_later_count_as_safe(version: str, safe: bool) -> None:
    assert pickles.unpickles_safely(version) is safe


def test_the_floor_in_pyproject_is_the_safe_torch() -> None:
    text = (Path(__file__).parents[3] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"torch>=2.6"' in text


def test_a_ckpt_checkpoint_is_refused_on_an_unsafe_torch(
    tiny_bundle: TinyBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": load_file(str(tiny_bundle.single_file))}, plain)
    config = config_of(tiny_bundle, model=str(plain), model_config=str(tiny_bundle.sd), offline=True)
    monkeypatch.setattr(pickles, "torch_version", lambda: "2.5.1")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load ran"))
    with pytest.raises(ModelUnavailable, match=rf"plain\.ckpt is a pickle file, and {REFUSED}.*MODEL"):
        Engine.load(config)


def test_a_faceid_bin_is_refused_on_an_unsafe_torch_and_loads_on_this_one(
    tiny_bundle: TinyBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "faceid"
    folder.mkdir()
    state = load_file(str(tiny_bundle.faceid_weight_file))
    image_proj = {k.removeprefix("image_proj."): v for k, v in state.items() if k.startswith("image_proj.")}
    ip_adapter = {k.removeprefix("ip_adapter."): v for k, v in state.items() if k.startswith("ip_adapter.")}
    torch.save({"image_proj": image_proj, "ip_adapter": ip_adapter}, folder / "faceid.bin")
    config = config_of(
        tiny_bundle, ip_adapter=None, faceid_adapter=AdapterSource(str(folder), "", "faceid.bin")
    )
    assert Engine.load(config).pipes.faceid_dim is not None
    monkeypatch.setattr(pickles, "torch_version", lambda: "2.5.1")
    with pytest.raises(ModelUnavailable, match=rf"faceid\.bin is a pickle file, and {REFUSED}.*FACEID"):
        Engine.load(config)


def test_a_folder_of_bin_weights_is_refused_on_an_unsafe_torch(
    tiny_bundle: TinyBundle, tmp_path: Path, old_torch: None
) -> None:
    folder = tmp_path / "sd"
    shutil.copytree(tiny_bundle.sd, folder)
    UNet2DConditionModel.from_pretrained(folder, subfolder="unet").save_pretrained(
        folder / "unet", safe_serialization=False
    )
    for weights in (folder / "unet").glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelUnavailable, match=rf"reads only \.safetensors weights.*{REFUSED[-14:]}"):
        Engine.load(config_of(tiny_bundle, model=str(folder)))


def test_safetensors_load_on_an_unsafe_torch(tiny_bundle: TinyBundle, old_torch: None) -> None:
    assert Engine.load(config_of(tiny_bundle)).pipes.faceid_dim is not None
