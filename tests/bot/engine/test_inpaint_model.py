"""A dedicated inpainting model (LIKENESS_INPAINT_MODEL): its 9-channel UNet inpaints and outpaints,
sharing the base model's text encoders, VAE and image encoder, with face lock and LoRAs on it too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.engine.metadata import read_parameters
from bot.errors import ModelUnavailable
from bot.params import LoraUse, Mode
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import box_mask, gradient_image, job_request, pixels, save
from tests.bot.engine.test_face_lock import identity

STEPS = 3


@pytest.fixture(scope="module")
def engines(tiny_bundle: TinyBundle) -> Iterator[tuple[Engine, Engine]]:
    config = load_settings(tiny_bundle.env_file).engine_config
    yield Engine.load(config), Engine.load(replace(config, inpaint_model=str(tiny_bundle.inpaint_model)))


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    return {
        "image": save(gradient_image(96, 64), tmp_path / "source.png"),
        "mask": save(box_mask(96, 64, (30, 16, 66, 48)), tmp_path / "mask.png"),
    }


def inpaint(engine: Engine, inputs: dict[str, Path], **more: object) -> np.ndarray:
    job = job_request(prompt="a hat", mode=Mode.INPAINT, steps=STEPS, seed=2, strength=1.0, **inputs, **more)
    return pixels(engine.generate(job).candidates[0].png)


def test_the_inpainting_unet_shares_everything_else(engines: tuple[Engine, Engine]) -> None:
    base, dedicated = engines
    pipes = dedicated.pipes
    assert pipes.inpaint.unet.config.in_channels == 9 and pipes.text.unet.config.in_channels == 4
    assert pipes.inpaint.text_encoder is pipes.text.text_encoder and pipes.inpaint.vae is pipes.text.vae
    assert pipes.inpaint.image_encoder is pipes.text.image_encoder
    assert base.pipes.inpaint.unet is base.pipes.text.unet  # without the setting: the model inpaints


def test_inpaint_and_outpaint_run_on_it_and_keep_the_rest(
    engines: tuple[Engine, Engine], inputs: dict[str, Path]
) -> None:
    base, dedicated = engines
    own, other = inpaint(dedicated, inputs), inpaint(base, inputs)
    assert not np.array_equal(own, other)
    original = np.asarray(gradient_image(96, 64)).astype(int)
    assert np.array_equal(own[:, 80:].astype(int), original[:, 80:])  # far from the mask: untouched
    out = dedicated.generate(
        job_request(prompt="sky", mode=Mode.OUTPAINT, image=inputs["image"], expand="right", steps=STEPS)
    ).candidates[0]
    assert out.width / out.height > 96 / 64 * 1.3  # the canvas grew to the right
    # Text to image still uses the base UNet: the same pixels as the engine without the setting.
    text = job_request(prompt="a lighthouse", steps=STEPS, seed=1)
    assert np.array_equal(
        pixels(dedicated.generate(text).candidates[0].png), pixels(base.generate(text).candidates[0].png)
    )


def test_face_lock_and_loras_reach_it(engines: tuple[Engine, Engine], inputs: dict[str, Path]) -> None:
    _, dedicated = engines
    plain = inpaint(dedicated, inputs)
    locked = dedicated.generate(
        job_request(
            prompt="her",
            mode=Mode.INPAINT,
            steps=STEPS,
            seed=2,
            strength=1.0,
            identity=identity(),
            identity_weight=1.5,
            **inputs,
        )
    )
    assert read_parameters(locked.candidates[0].png)["Face lock"] == "FaceID"
    assert not np.array_equal(pixels(locked.candidates[0].png), plain)
    assert np.array_equal(inpaint(dedicated, inputs, loras=(LoraUse("ink", 0.0),)), plain)
    assert not np.array_equal(inpaint(dedicated, inputs, loras=(LoraUse("ink", 1.0),)), plain)
    assert np.array_equal(inpaint(dedicated, inputs), plain)  # and off again


def test_a_model_that_is_not_for_inpainting_or_of_another_family_is_refused(
    tiny_bundle: TinyBundle, tiny_sdxl_bundle: TinyBundle
) -> None:
    config = load_settings(tiny_bundle.env_file).engine_config
    with pytest.raises(ModelUnavailable, match="is not an inpainting model: its UNet takes 4 input channels"):
        Engine.load(replace(config, inpaint_model=str(tiny_bundle.sd)))
    with pytest.raises(ModelUnavailable, match="is of another family than LIKENESS_MODEL"):
        Engine.load(replace(config, inpaint_model=str(tiny_sdxl_bundle.inpaint_model)))


def test_structure_runs_on_the_inpainting_unet(
    engines: tuple[Engine, Engine], inputs: dict[str, Path]
) -> None:
    """The inpaint ControlNet pipeline is derived from the inpaint pipeline, so it keeps its own UNet."""
    _, dedicated = engines
    free = inpaint(dedicated, inputs, structure="canny", structure_weight=0.0)
    kept = inpaint(dedicated, inputs, structure="canny")
    assert not np.array_equal(free, kept)
    assert dedicated.structure is not None
    derived = dedicated.structure.pipeline("canny", "inpaint")
    assert derived.unet is dedicated.pipes.inpaint.unet and derived.unet.config.in_channels == 9
