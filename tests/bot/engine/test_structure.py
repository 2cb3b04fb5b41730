"""Structure control through the real loaders: the tiny bundle's ControlNets (``from_pretrained``)
attached with ``from_pipe``, in every mode and both families, with face lock, and refused clearly."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.engine.identity import encode_identity
from bot.engine.metadata import read_parameters
from bot.errors import InvalidRequest, ModelUnavailable
from bot.jobs import GenerationRequest
from bot.params import Mode, resolve
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import box_mask, gradient_image, job_request, pixels, save

STEPS = 3
STRUCTURES = ("canny", "depth")


@pytest.fixture(scope="module")
def sdxl(tiny_sdxl_bundle: TinyBundle) -> Iterator[Engine]:
    yield Engine.load(load_settings(tiny_sdxl_bundle.env_file).engine_config)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A picture with strong edges (a bright box on a gradient), and a mask for inpaint."""
    folder = tmp_path_factory.mktemp("structure")
    image = gradient_image(96, 64)
    image.paste((250, 250, 250), (20, 12, 60, 44))
    return {
        "image": save(image, folder / "source.png"),
        "mask": save(box_mask(96, 64, (0, 0, 48, 64)), folder / "m.png"),
    }


def request(mode: Mode, inputs: dict[str, Path], **kw: object) -> GenerationRequest:
    base: dict[str, object] = {"prompt": "a lighthouse at dusk", "mode": mode, "steps": STEPS, "seed": 7}
    if mode is not Mode.TEXT or "structure" in kw:
        base["image"] = inputs["image"]
    if mode is Mode.INPAINT:
        base["mask"] = inputs["mask"]
    base.update(kw)
    return job_request(**base)


def structure_image(result: object) -> Image.Image:
    png = getattr(result, "structure", None)
    assert png is not None
    return Image.open(io.BytesIO(png))


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("structure", STRUCTURES)
def test_structure_steers_every_mode(
    engine: Engine, inputs: dict[str, Path], mode: Mode, structure: str
) -> None:
    """Against the same job at weight 0 (exactly a job without structure, tested below)."""
    free = engine.generate(request(mode, inputs, structure=structure, structure_weight=0.0))
    kept = engine.generate(request(mode, inputs, structure=structure, structure_weight=1.0))
    assert kept.params.structure == structure and kept.params.structure_weight == 1.0
    first = kept.candidates[0]
    if mode in (Mode.TEXT, Mode.IMAGE_PROMPT):  # a new image takes the structure reference's shape
        assert (first.width, first.height) == (96, 64)
    assert (first.width, first.height) == (free.candidates[0].width, free.candidates[0].height)
    assert not np.array_equal(pixels(first.png), pixels(free.candidates[0].png))
    fields = read_parameters(first.png)
    assert fields["Structure"] == structure and fields["Structure weight"] == "1"
    assert fields["Structure model"] == f"controlnet-{structure}"
    shown = structure_image(kept)
    assert shown.mode == "RGB" and shown.size[0] / shown.size[1] == pytest.approx(96 / 64, rel=0.1)


def test_the_map_is_what_the_controlnet_read(engine: Engine, inputs: dict[str, Path]) -> None:
    """Canny is white edges on black around the box; depth is a grey map; both differ in output."""
    canny = engine.generate(request(Mode.IMG2IMG, inputs, structure="canny"))
    depth = engine.generate(request(Mode.IMG2IMG, inputs, structure="depth"))
    edges = np.asarray(structure_image(canny).convert("L"))
    assert set(np.unique(edges)) <= {0, 255} and 0 < (edges == 255).mean() < 0.3
    assert not np.array_equal(pixels(canny.candidates[0].png), pixels(depth.candidates[0].png))
    assert structure_image(canny).text["parameters"] == (
        "Structure: canny, Structure weight: 1, Structure model: controlnet-canny"
    )


def test_outpaint_keeps_the_originals_structure_and_leaves_the_new_area_free(
    engine: Engine, inputs: dict[str, Path]
) -> None:
    result = engine.generate(request(Mode.OUTPAINT, inputs, structure="canny", expand="21:9"))
    edges = np.asarray(structure_image(result).convert("L"))
    plan = engine.plan(request(Mode.OUTPAINT, inputs, structure="canny", expand="21:9"))
    assert plan.region is not None
    left, top, right, bottom = plan.region
    inside = edges[top:bottom, left:right]
    assert inside.any()  # the box's outline is kept
    outside = edges.copy()
    outside[top:bottom, left:right] = 0
    assert not outside.any()  # nothing steers the new area


@pytest.mark.parametrize("mode", [Mode.TEXT, Mode.IMG2IMG, Mode.INPAINT])
def test_weight_zero_is_no_structure_bit_for_bit(engine: Engine, inputs: dict[str, Path], mode: Mode) -> None:
    without = request(mode, inputs)
    if mode is Mode.TEXT:  # text with an image needs a structure; compare with the same shape
        without = job_request(prompt="a lighthouse at dusk", steps=STEPS, seed=7, aspect="3:2")
    zero = engine.generate(request(mode, inputs, structure="canny", structure_weight=0.0))
    plain = engine.generate(without)
    if mode is not Mode.TEXT:
        assert np.array_equal(pixels(zero.candidates[0].png), pixels(plain.candidates[0].png))
    assert zero.structure is None
    assert any("structure weight 0" in w for w in zero.warnings)


def test_weight_zero_in_text_mode_matches_the_images_shape_without_structure(
    engine: Engine, inputs: dict[str, Path]
) -> None:
    zero = engine.generate(request(Mode.TEXT, inputs, structure="depth", structure_weight=0.0))
    assert (zero.candidates[0].width, zero.candidates[0].height) == (96, 64)


def test_the_weight_scales_the_control(engine: Engine, inputs: dict[str, Path]) -> None:
    half = engine.generate(request(Mode.IMG2IMG, inputs, structure="canny", structure_weight=0.5))
    full = engine.generate(request(Mode.IMG2IMG, inputs, structure="canny", structure_weight=2.0))
    assert not np.array_equal(pixels(half.candidates[0].png), pixels(full.candidates[0].png))


def test_controlnets_load_once_and_share_the_weights(engine: Engine, inputs: dict[str, Path]) -> None:
    engine.generate(request(Mode.IMG2IMG, inputs, structure="canny"))
    control = engine.structure
    assert control is not None
    derived = control.pipeline("canny", "img2img")
    assert derived is control.pipeline("canny", "img2img")
    assert derived.unet is engine.pipes.text.unet and derived.vae is engine.pipes.text.vae
    assert derived.controlnet is control.pipeline("canny", "text").controlnet
    assert type(derived).__name__ == "StableDiffusionControlNetImg2ImgPipeline"
    assert type(control.pipeline("canny", "inpaint")).__name__ == "StableDiffusionControlNetInpaintPipeline"


def test_face_lock_composes_with_structure(engine: Engine, inputs: dict[str, Path]) -> None:
    rng = np.random.default_rng(3)
    ident = (encode_identity(rng.normal(size=512)),)
    locked = engine.generate(request(Mode.IMG2IMG, inputs, identity=ident, structure="canny"))
    structure_only = engine.generate(request(Mode.IMG2IMG, inputs, structure="canny"))
    assert not np.array_equal(pixels(locked.candidates[0].png), pixels(structure_only.candidates[0].png))
    fields = read_parameters(locked.candidates[0].png)
    assert fields["Face lock"] == "FaceID" and fields["Structure"] == "canny"


@pytest.mark.parametrize("mode", list(Mode))
def test_sdxl_keeps_structure_in_every_mode(sdxl: Engine, inputs: dict[str, Path], mode: Mode) -> None:
    result = sdxl.generate(request(mode, inputs, structure="canny", structure_weight=0.8))
    assert read_parameters(result.candidates[0].png)["Structure weight"] == "0.8"
    assert result.structure is not None
    assert sdxl.structure is not None
    kind = {Mode.TEXT: "text", Mode.IMAGE_PROMPT: "text", Mode.IMG2IMG: "img2img"}.get(mode, "inpaint")
    assert type(sdxl.structure.pipeline("canny", kind)).__name__.startswith("StableDiffusionXLControlNet")


def test_structure_without_an_image_is_refused(engine: Engine) -> None:
    with pytest.raises(InvalidRequest, match="structure canny keeps the composition of an image: attach"):
        engine.generate(job_request(prompt="a cat", steps=STEPS, structure="canny"))


def test_a_bot_without_controlnets_says_who_sets_them(
    engine: Engine, tiny_bundle: TinyBundle, inputs: dict[str, Path]
) -> None:
    config = load_settings(tiny_bundle.env_file, controlnet_canny="none").engine_config
    assert config.structures == {"depth"}
    bare = Engine(engine.pipes, engine.model_name)  # no ControlNets at all
    with pytest.raises(InvalidRequest, match="structure canny is not set up on this bot: the operator sets "):
        bare.generate(request(Mode.IMG2IMG, inputs, structure="canny"))


def test_a_controlnet_of_the_other_family_is_refused_with_the_setting(
    engine: Engine, tiny_bundle: TinyBundle, tiny_sdxl_bundle: TinyBundle, inputs: dict[str, Path]
) -> None:
    from bot.engine.control import StructureControl

    config = load_settings(
        tiny_bundle.env_file, controlnet_canny=str(tiny_sdxl_bundle.root / "controlnet-canny")
    ).engine_config
    mixed = Engine(engine.pipes, engine.model_name, structure=StructureControl(config, engine.pipes))
    with pytest.raises(ModelUnavailable, match=r"is not for SD 1.5 .*set LIKENESS_CONTROLNET_CANNY"):
        mixed.generate(request(Mode.IMG2IMG, inputs, structure="canny"))
    # the engine is still usable for everything else
    assert mixed.generate(request(Mode.IMG2IMG, inputs)).candidates


def test_a_missing_controlnet_names_the_setting(
    engine: Engine, tiny_bundle: TinyBundle, tmp_path: Path, inputs: dict[str, Path]
) -> None:
    from bot.engine.control import StructureControl

    config = load_settings(tiny_bundle.env_file, controlnet_depth=str(tmp_path / "nowhere")).engine_config
    missing = Engine(engine.pipes, engine.model_name, structure=StructureControl(config, engine.pipes))
    with pytest.raises(
        ModelUnavailable, match=r"cannot load the depth ControlNet .*LIKENESS_CONTROLNET_DEPTH"
    ):
        missing.generate(request(Mode.IMG2IMG, inputs, structure="depth"))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"structure_weight": 0.5}, "structure_weight needs a structure"),
        ({"structure": "canny", "structure_weight": 2.5}, "structure_weight must be between 0 and 2"),
        ({"structure": "pose"}, "unknown structure 'pose': choose one of canny, depth"),
    ],
)
def test_bad_structure_values_are_refused(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        resolve(replace(job_request(prompt="a cat").params, **kw))
