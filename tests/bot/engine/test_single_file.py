"""One checkpoint file instead of a diffusers folder: the tiny bundle's own weights, written in the
original key layout, loaded through diffusers' ``from_single_file``, give the folder's pixels."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bot.app.settings import load_settings
from bot.engine.config import EngineConfig
from bot.engine.engine import Engine
from bot.engine.family import Family
from bot.engine.metadata import read_parameters
from bot.engine.single_file import single_file_family
from bot.errors import ModelUnavailable
from bot.params import LoraUse, Mode
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import gradient_image, job_request, pixels, save


def config_of(bundle: TinyBundle, **changes: object) -> EngineConfig:
    return replace(load_settings(bundle.env_file).engine_config, **{"name": "", **changes})  # type: ignore[arg-type]


def outputs(engine: Engine, source: Path) -> list[np.ndarray]:
    jobs = (
        job_request(prompt="a lighthouse", steps=3, seed=4),
        job_request(prompt="a lighthouse", mode=Mode.IMG2IMG, image=source, steps=3, seed=4),
    )
    return [pixels(engine.generate(job).candidates[0].png) for job in jobs]


@pytest.mark.parametrize("family", [Family.SD15, Family.SDXL])
def test_the_single_file_gives_the_folders_pixels(
    tiny_bundle: TinyBundle, tiny_sdxl_bundle: TinyBundle, tmp_path: Path, family: Family
) -> None:
    bundle = tiny_sdxl_bundle if family is Family.SDXL else tiny_bundle
    source = save(gradient_image(96, 64), tmp_path / "source.png")
    folder = Engine.load(config_of(bundle))
    single = Engine.load(
        config_of(bundle, model=str(bundle.single_file), model_config=str(bundle.sd), offline=True)
    )
    assert single.pipes.family is family and single.model_name == "single-file"
    assert single_file_family(bundle.single_file, None) is family  # from the file's keys alone
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        ours, theirs = getattr(folder.pipes.text, name, None), getattr(single.pipes.text, name, None)
        if ours is not None:
            mine, other = ours.state_dict(), theirs.state_dict()
            assert mine.keys() == other.keys()
            assert all(torch.equal(mine[k], other[k]) for k in mine), f"{name} weights differ"
    # The same weights can still round differently by one level here and there: the converted
    # tensors' memory layout picks other CPU kernels (seen on some CPUs, one value in 12 288).
    for a, b in zip(outputs(folder, source), outputs(single, source), strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_a_weights_only_ckpt_loads_and_one_with_code_is_refused(
    tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    state = load_file(str(tiny_bundle.single_file))
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": state}, plain)
    engine = Engine.load(
        config_of(tiny_bundle, model=str(plain), model_config=str(tiny_bundle.sd), offline=True)
    )
    assert engine.pipes.family is Family.SD15
    tricky = tmp_path / "tricky.ckpt"
    torch.save({"state_dict": state, "callback": pickle.loads(pickle.dumps(Path("x")))}, tricky)
    with pytest.raises(
        ModelUnavailable, match=r"holds more than weights \(pickled code\), so it is not loaded"
    ):
        Engine.load(config_of(tiny_bundle, model=str(tricky), model_config=str(tiny_bundle.sd), offline=True))


def test_a_single_file_without_its_config_offline_says_what_to_set(tiny_bundle: TinyBundle) -> None:
    with pytest.raises(ModelUnavailable, match="set LIKENESS_MODEL_CONFIG to a local diffusers folder"):
        Engine.load(
            config_of(tiny_bundle, model=str(tiny_bundle.single_file), model_config=None, offline=True)
        )


def test_a_missing_checkpoint_names_the_path(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    with pytest.raises(
        ModelUnavailable, match=r"names the checkpoint file .*nowhere\.safetensors, which does not exist"
    ):
        Engine.load(config_of(tiny_bundle, model=str(tmp_path / "nowhere.safetensors")))


def test_an_sdxl_single_file_with_a_lora_folder_runs_every_mode_offline(
    tiny_sdxl_bundle: TinyBundle, tmp_path: Path
) -> None:
    """What an operator brings from a model site: one SDXL file, a folder of LoRAs, and no network."""
    bundle = tiny_sdxl_bundle
    engine = Engine.load(
        config_of(bundle, model=str(bundle.single_file), model_config=str(bundle.sd), offline=True)
    )
    source = save(gradient_image(96, 64), tmp_path / "source.png")
    mask = save(
        gradient_image(96, 64).convert("L").point(lambda v: 255 if v > 120 else 0), tmp_path / "mask.png"
    )
    for mode in Mode:
        extra: dict[str, object] = {} if mode is Mode.TEXT else {"image": source}
        if mode is Mode.INPAINT:
            extra["mask"] = mask
        result = engine.generate(
            job_request(
                prompt="a harbour <lora:ink:0.7>",
                mode=mode,
                steps=3,
                seed=5,
                loras=(LoraUse("glow"),),
                **extra,
            )
        )
        fields = read_parameters(result.candidates[0].png)
        assert fields["Mode"] == mode.value and fields["Lora hashes"].startswith("glow: "), mode
