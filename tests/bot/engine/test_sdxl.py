"""The SDXL family through the same engine: every mode, face lock, candidates, seeds and parameters,
on the tiny SDXL bundle through the real loaders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bot.app.settings import load_settings
from bot.engine.config import AdapterSource
from bot.engine.engine import Engine
from bot.engine.faces import load_face_analyzer
from bot.engine.family import Family, bucket_size
from bot.engine.identity import encode_identity
from bot.engine.images import size_for_aspect
from bot.engine.metadata import read_parameters
from bot.engine.pipelines import with_family_defaults
from bot.engine.prompts import prompt_arguments
from bot.params import Mode
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import box_mask, gradient_image, job_request, pixels, save

STEPS = 3


@pytest.fixture(scope="module")
def sdxl(tiny_sdxl_bundle: TinyBundle) -> Iterator[Engine]:
    settings = load_settings(tiny_sdxl_bundle.env_file)
    analyzer = load_face_analyzer(
        "insightface", tiny_sdxl_bundle.face_model_dir, settings.face_det_size, "cpu"
    )
    yield Engine.load(settings.engine_config, face_analyzer=analyzer)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return save(gradient_image(96, 64), tmp_path / "source.png")


def identity(count: int = 2) -> tuple[bytes, ...]:
    rng = np.random.default_rng(count)
    return tuple(encode_identity(rng.normal(size=512)) for _ in range(count))


def test_the_family_is_read_from_the_model(sdxl: Engine) -> None:
    assert sdxl.pipes.family is Family.SDXL
    assert type(sdxl.pipes.text).__name__ == "StableDiffusionXLPipeline"
    assert type(sdxl.pipes.inpaint).__name__ == "StableDiffusionXLInpaintPipeline"
    assert sdxl.pipes.img2img.unet is sdxl.pipes.text.unet  # from_pipe shares the weights
    assert sdxl.pipes.text.tokenizer_2 is not None  # both encoders read the prompt
    assert sdxl.capabilities.image_prompt and sdxl.capabilities.faceid_dim == 512


@pytest.mark.parametrize("mode", list(Mode))
def test_every_mode_runs(sdxl: Engine, source: Path, tmp_path: Path, mode: Mode) -> None:
    inputs: dict[str, object] = {}
    if mode is not Mode.TEXT:
        inputs["image"] = source
    if mode is Mode.INPAINT:
        inputs["mask"] = save(box_mask(96, 64, (30, 20, 70, 50)), tmp_path / "mask.png")
    if mode is Mode.OUTPAINT:
        inputs["expand"] = "right"
    result = sdxl.generate(job_request(prompt="a lighthouse", mode=mode, steps=STEPS, seed=8, **inputs))
    [candidate] = result.candidates
    fields = read_parameters(candidate.png)
    assert (fields["Mode"], fields["Seed"], fields["Sampler"], fields["Schedule type"]) == (
        mode.value,
        "8",
        "DPM++ 2M",
        "Karras",
    )
    if mode is Mode.INPAINT:  # back onto the photo at its own size, untouched far from the mask
        assert (candidate.width, candidate.height) == (96, 64)
        out, original = pixels(candidate.png).astype(int), np.asarray(gradient_image(96, 64)).astype(int)
        assert np.array_equal(out[:, 80:], original[:, 80:])


def test_candidates_and_seeds_reproduce(sdxl: Engine) -> None:
    first = sdxl.generate(job_request(prompt="two cats", steps=STEPS, seed=40, candidates=2))
    again = sdxl.generate(job_request(prompt="two cats", steps=STEPS, seed=40, candidates=2))
    assert [c.seed for c in first.candidates] == [40, 41]
    assert [c.png for c in first.candidates] == [c.png for c in again.candidates]


def test_image_prompt_weight_changes_the_output(sdxl: Engine, source: Path) -> None:
    base = {"prompt": "a portrait", "mode": Mode.IMAGE_PROMPT, "image": source, "steps": STEPS, "seed": 3}
    off = sdxl.generate(job_request(**base, image_weight=0.0)).candidates[0]
    on = sdxl.generate(job_request(**base, image_weight=1.5)).candidates[0]
    assert not np.array_equal(pixels(off.png), pixels(on.png))


def test_face_lock_uses_faceid_and_scores_every_candidate(sdxl: Engine) -> None:
    ident = identity()
    off = sdxl.generate(job_request(prompt="her", steps=STEPS, seed=5, identity=ident, identity_weight=0.0))
    on = sdxl.generate(job_request(prompt="her", steps=STEPS, seed=5, identity=ident, identity_weight=1.5))
    assert not np.array_equal(pixels(off.candidates[0].png), pixels(on.candidates[0].png))
    fields = read_parameters(on.candidates[0].png)
    assert (fields["Face lock"], fields["Identity weight"], fields["Identity"]) == (
        "FaceID",
        "1.5",
        "no face",
    )


def test_new_images_use_the_sdxl_buckets() -> None:
    assert size_for_aspect("16:9", 1024, Family.SDXL) == (1344, 768)
    assert size_for_aspect("1:1", 1024, Family.SDXL) == (1024, 1024)
    assert size_for_aspect("2:3", 1024, Family.SDXL) == (832, 1216)
    assert size_for_aspect("21:9", 1024, Family.SDXL) == (1536, 640)
    assert bucket_size(Family.SD15, 16 / 9, 512) is None
    assert size_for_aspect("16:9", 512, Family.SD15) == (680, 384)  # the pixel budget, as before


def test_a_long_prompt_is_read_whole_by_both_encoders(sdxl: Engine) -> None:
    """Nothing is cut, so nothing is reported: both encoders read all four 75-token chunks."""
    prompt = "a castle on a hill " * 20  # 280 tokens
    assert not sdxl.generate(job_request(prompt=prompt, steps=2, seed=1)).warnings
    pipe = sdxl.pipes.text
    embeds = prompt_arguments(pipe, prompt, "", None)["prompt_embeds"]
    width = pipe.text_encoder.config.hidden_size + pipe.text_encoder_2.config.hidden_size
    assert tuple(embeds.shape) == (1, 4 * 77, width)


def test_adapter_files_follow_the_family_unless_set() -> None:
    left_out = AdapterSource("h94/IP-Adapter"), AdapterSource("h94/IP-Adapter-FaceID")
    plain, faceid = with_family_defaults(Family.SDXL, *left_out)
    assert plain == AdapterSource("h94/IP-Adapter", "sdxl_models", "ip-adapter_sdxl.bin")
    assert faceid == AdapterSource("h94/IP-Adapter-FaceID", "", "ip-adapter-faceid_sdxl.bin")
    plain, faceid = with_family_defaults(Family.SD15, *left_out)
    assert plain == AdapterSource("h94/IP-Adapter", "models", "ip-adapter_sd15.safetensors")
    assert faceid == AdapterSource("h94/IP-Adapter-FaceID", "", "ip-adapter-faceid_sd15.bin")
    own = AdapterSource("/srv/adapters", "mine", "plus.safetensors")
    assert with_family_defaults(Family.SDXL, own, None) == (own, None)


def test_clip_skip_on_both_text_encoders(sdxl: Engine) -> None:
    """SDXL already reads the next-to-last layer of each encoder: a skip goes one further on both."""
    plain = sdxl.generate(job_request(prompt="a lighthouse", steps=2, seed=3))
    skipped = sdxl.generate(job_request(prompt="a lighthouse", steps=2, seed=3, clip_skip=2))
    assert not np.array_equal(pixels(skipped.candidates[0].png), pixels(plain.candidates[0].png))
    assert sdxl.pipes.max_clip_skip == 5  # the tiny encoders' 5 layers, one already skipped
