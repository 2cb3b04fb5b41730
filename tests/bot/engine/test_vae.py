"""LIKENESS_VAE through diffusers' real loaders: a VAE folder and the same VAE as one LDM-layout
file decode alike, in every mode, and differ from the model's own; the PNG names the VAE and its
hash as A1111 does; a VAE of the other family, or one that is missing, is refused by name."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.app.settings import load_settings
from bot.engine.config import EngineConfig
from bot.engine.engine import Engine
from bot.engine.metadata import read_parameters
from bot.errors import ModelUnavailable
from bot.params import Mode
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import gradient_image, job_request, pixels, save


def config_of(bundle: TinyBundle, **changes: object) -> EngineConfig:
    return replace(load_settings(bundle.env_file).engine_config, **{"name": "", **changes})  # type: ignore[arg-type]


def run(engine: Engine, **kw: object) -> tuple[np.ndarray, dict[str, str]]:
    png = (
        engine.generate(job_request(**{"prompt": "a harbour", "steps": 4, "seed": 3, **kw})).candidates[0].png
    )
    return pixels(png), read_parameters(png)


def test_a_vae_folder_and_the_same_vae_as_a_file_replace_the_models_own(
    engine: Engine, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    folder = Engine.load(config_of(tiny_bundle, vae=str(tiny_bundle.vae)))
    file = Engine.load(config_of(tiny_bundle, vae=str(tiny_bundle.vae_file)))
    own, own_fields = run(engine)
    by_folder, folder_fields = run(folder)
    by_file, file_fields = run(file)
    assert not np.array_equal(by_folder, own)
    assert np.abs(by_folder.astype(int) - by_file.astype(int)).max() <= 1  # one set of weights
    assert "VAE" not in own_fields
    assert folder_fields["VAE"] == "vae" and "VAE hash" not in folder_fields
    digest = hashlib.sha256(tiny_bundle.vae_file.read_bytes()).hexdigest()[:10]
    assert (file_fields["VAE"], file_fields["VAE hash"]) == ("vae", digest)
    source = save(gradient_image(96, 64), tmp_path / "source.png")
    for pipe in (file.pipes.img2img, file.pipes.inpaint):  # every mode decodes with it
        assert pipe.vae is file.pipes.text.vae
    image, _ = run(file, mode=Mode.IMG2IMG, image=source)
    assert image.shape[:2] == (64, 96)


def test_a_whole_model_folder_lends_its_vae(engine: Engine, tiny_bundle: TinyBundle) -> None:
    """A diffusers model named as the VAE: its ``vae/`` is the one taken (here the model's own)."""
    lent = Engine.load(config_of(tiny_bundle, vae=str(tiny_bundle.sd)))
    assert np.array_equal(run(lent)[0], run(engine)[0])


def test_a_vae_of_the_other_family_is_refused_naming_both(
    tiny_bundle: TinyBundle, tiny_sdxl_bundle: TinyBundle
) -> None:
    with pytest.raises(
        ModelUnavailable, match=r"the VAE 'sd' is made for SDXL, but the model is SD 1\.5: choose a VAE"
    ):
        Engine.load(config_of(tiny_bundle, vae=str(tiny_sdxl_bundle.sd)))


def test_a_missing_vae_names_the_setting(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"LIKENESS_VAE names the file .*nowhere\.safetensors"):
        Engine.load(config_of(tiny_bundle, vae=str(tmp_path / "nowhere.safetensors")))
    with pytest.raises(ModelUnavailable, match=r"cannot load the VAE .*holds no VAE"):
        Engine.load(config_of(tiny_bundle, vae=str(tmp_path)))


def test_the_setting_reaches_the_engine(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    env = tmp_path / "vae.env"
    env.write_text(tiny_bundle.env_file.read_text() + f"LIKENESS_VAE={tiny_bundle.vae_file}\n")
    assert load_settings(env).engine_config.vae == str(tiny_bundle.vae_file)
    env.write_text(tiny_bundle.env_file.read_text() + "LIKENESS_VAE=none\n")
    assert load_settings(env).engine_config.vae is None
