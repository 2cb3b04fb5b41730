"""The engine end to end on the tiny bundle, through the real diffusers loaders."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from bot.app.settings import load_settings
from bot.engine import images
from bot.engine.checks import Capabilities
from bot.engine.engine import Engine
from bot.engine.family import Family
from bot.engine.metadata import read_parameters
from bot.errors import BadImage, Cancelled, InvalidRequest
from bot.jobs import GenerationRequest
from bot.params import Mode
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import box_mask, gradient_image, job_request, pixels, save

STEPS = 4


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return save(gradient_image(96, 64), tmp_path / "source.png")


def request(mode: Mode, **kw: object) -> GenerationRequest:
    base: dict[str, object] = {
        "prompt": "a portrait in a rainy street",
        "mode": mode,
        "steps": STEPS,
        "seed": 1234,
    }
    base.update(kw)
    return job_request(**base)


def test_the_engines_capabilities_are_known_before_it_loads(engine: Engine, tiny_bundle: TinyBundle) -> None:
    """What submissions check against (from the configuration) is what the loaded engine can do."""
    before = Capabilities.of(load_settings(tiny_bundle.env_file).engine_config)
    both = frozenset({"canny", "depth"})
    speeds = frozenset((family, speed) for family in Family for speed in ("fast", "turbo"))  # tiny LoRAs
    assert before == Capabilities(
        image_prompt=True,
        faceid_dim=512,
        family=None,
        structures=both,
        describe=True,
        upscale=True,
        speeds=speeds,
    )  # the family and the native size need the model
    assert engine.capabilities == Capabilities(
        image_prompt=True,
        faceid_dim=512,
        family=Family.SD15,
        structures=both,
        describe=True,
        native=64,
        upscale=True,
        speeds=speeds,
    )


def test_text_to_image_uses_native_size_and_aspect(engine: Engine) -> None:
    square = engine.generate(request(Mode.TEXT))
    assert (square.candidates[0].width, square.candidates[0].height) == (64, 64)
    wide = engine.generate(request(Mode.TEXT, aspect="16:9"))
    c = wide.candidates[0]
    assert c.width > c.height and c.width % 8 == 0 and c.height % 8 == 0
    assert abs(c.width / c.height - 16 / 9) < 0.25


def test_img2img_keeps_source_aspect_and_reports_seed(engine: Engine, source: Path) -> None:
    result = engine.generate(request(Mode.IMG2IMG, image=source, strength=0.5))
    c = result.candidates[0]
    assert c.width > c.height  # 96×64 source stays landscape
    assert result.params.seed == 1234 and c.seed == 1234
    assert result.params.strength == 0.5


def test_image_prompt_weight_changes_output(engine: Engine, source: Path) -> None:
    off = engine.generate(request(Mode.IMAGE_PROMPT, image=source, image_weight=0.0))
    on = engine.generate(request(Mode.IMAGE_PROMPT, image=source, image_weight=1.5))
    assert not np.array_equal(pixels(off.candidates[0].png), pixels(on.candidates[0].png))


def test_inpaint_changes_only_the_masked_region(engine: Engine, tmp_path: Path) -> None:
    image = gradient_image(64, 64)
    src = save(image, tmp_path / "src.png")
    # A mask drawn at another size but the same shape is accepted and resized.
    mask = save(box_mask(128, 128, (32, 32, 96, 96)), tmp_path / "mask.png")
    result = engine.generate(request(Mode.INPAINT, image=src, mask=mask, strength=1.0))
    out = pixels(result.candidates[0].png).astype(int)
    original = np.asarray(image).astype(int)
    assert np.array_equal(out[:8], original[:8])  # far from the mask: untouched, bit for bit
    assert np.abs(out[24:40, 24:40] - original[24:40, 24:40]).mean() > 5  # the region was repainted


def test_inpaint_returns_the_photo_at_its_own_resolution(engine: Engine, tmp_path: Path) -> None:
    """The model works at its native 64 px, but a 320×192 photo comes back 320×192, untouched outside."""
    image = gradient_image(320, 192, seed=3)
    src = save(image, tmp_path / "big.png")
    mask = save(box_mask(320, 192, (200, 40, 280, 120)), tmp_path / "mask.png")
    c = engine.generate(request(Mode.INPAINT, image=src, mask=mask, strength=1.0)).candidates[0]
    assert (c.width, c.height) == (320, 192)
    out, original = pixels(c.png).astype(int), np.asarray(image).astype(int)
    assert np.array_equal(out[:, :150], original[:, :150])
    assert np.abs(out[60:100, 220:260] - original[60:100, 220:260]).mean() > 5


def test_inpaint_result_is_capped_at_the_largest_result_side(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "MAX_RESULT_SIDE", 160)
    src = save(gradient_image(320, 192), tmp_path / "big.png")
    mask = save(box_mask(320, 192, (200, 40, 280, 120)), tmp_path / "mask.png")
    c = engine.generate(request(Mode.INPAINT, image=src, mask=mask)).candidates[0]
    assert (c.width, c.height) == (160, 96)


def test_inpaint_rejects_empty_and_misshapen_masks(engine: Engine, tmp_path: Path) -> None:
    src = save(gradient_image(64, 64), tmp_path / "src.png")
    empty = save(box_mask(64, 64, (0, 0, 0, 0)), tmp_path / "empty.png")
    with pytest.raises(InvalidRequest, match="selects nothing"):
        engine.generate(request(Mode.INPAINT, image=src, mask=empty))
    wide = save(box_mask(128, 64, (10, 10, 40, 40)), tmp_path / "wide.png")
    with pytest.raises(BadImage, match="same picture"):
        engine.generate(request(Mode.INPAINT, image=src, mask=wide))


def test_outpaint_reaches_the_ratio_and_keeps_the_original(engine: Engine, tmp_path: Path) -> None:
    image = gradient_image(64, 64, seed=3)
    src = save(image, tmp_path / "src.png")
    result = engine.generate(request(Mode.OUTPAINT, image=src, expand="16:9"))
    c = result.candidates[0]
    assert abs(c.width / c.height - 16 / 9) < 0.2
    assert result.params.expand == "16:9"
    out = pixels(c.png)
    # The centre column of the canvas is original picture: never regenerated.
    centre = out[:, c.width // 2 - 2 : c.width // 2 + 2].astype(int)
    assert centre.std() > 0
    default = engine.generate(request(Mode.OUTPAINT, image=src))
    assert default.params.expand == "all"


def test_same_seed_same_pixels_and_candidates_batch(engine: Engine, source: Path) -> None:
    req = request(Mode.IMG2IMG, image=source, candidates=2, seed=99)
    first, second = engine.generate(req), engine.generate(req)
    assert [c.png for c in first.candidates] == [c.png for c in second.candidates]
    assert [c.seed for c in first.candidates] == [99, 100]
    assert not np.array_equal(pixels(first.candidates[0].png), pixels(first.candidates[1].png))
    other = engine.generate(request(Mode.IMG2IMG, image=source, candidates=2, seed=7))
    assert not np.array_equal(pixels(first.candidates[0].png), pixels(other.candidates[0].png))
    # Candidate k is reproducible alone with seed + k (same noise; batched maths may differ in rounding).
    alone = engine.generate(request(Mode.IMG2IMG, image=source, candidates=1, seed=100))
    diff = np.abs(pixels(alone.candidates[0].png).astype(int) - pixels(first.candidates[1].png).astype(int))
    assert diff.mean() < 2


def test_parameters_chunk_reproduces_the_request(engine: Engine, source: Path) -> None:
    result = engine.generate(
        request(Mode.IMG2IMG, image=source, strength=0.6, cfg=5.5, style="vintage", negative="blurry")
    )
    fields = read_parameters(result.candidates[0].png)
    assert fields["prompt"] == "a portrait in a rainy street"
    assert fields["negative"] == "blurry"
    assert fields["Steps"] == str(STEPS)
    assert fields["CFG scale"] == "5.5"
    assert fields["Seed"] == "1234"
    assert fields["Denoising strength"] == "0.6"
    assert fields["Mode"] == "img2img"
    assert fields["Style"] == "vintage"
    assert fields["Model"] == engine.model_name
    assert fields["Size"] == f"{result.candidates[0].width}x{result.candidates[0].height}"


def test_modes_share_weights_without_reload(
    engine: Engine, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diffusers

    before = {name: id(module) for name, module in engine.pipes.modules.items()}
    for pipe in (engine.pipes.img2img, engine.pipes.inpaint):
        assert pipe.unet is engine.pipes.text.unet and pipe.vae is engine.pipes.text.vae
        assert pipe.text_encoder is engine.pipes.text.text_encoder

    def no_reload(*args: object, **kwargs: object) -> None:
        raise AssertionError("weights were loaded again")

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", no_reload)
    mask = save(box_mask(96, 64, (20, 20, 60, 50)), tmp_path / "m.png")
    for mode, extra in (
        (Mode.TEXT, {}),
        (Mode.IMG2IMG, {"image": source}),
        (Mode.IMAGE_PROMPT, {"image": source}),
        (Mode.INPAINT, {"image": source, "mask": mask}),
        (Mode.OUTPAINT, {"image": source, "expand": "right"}),
        (Mode.TEXT, {}),
    ):
        assert engine.generate(request(mode, steps=3, **extra)).candidates
    after = {name: id(module) for name, module in engine.pipes.modules.items()}
    assert before == after


def test_progress_reports_each_step(engine: Engine, source: Path) -> None:
    seen: list[tuple[int, int]] = []
    engine.generate(
        request(Mode.IMG2IMG, image=source, steps=8, strength=0.5), progress=lambda k, n: seen.append((k, n))
    )
    assert seen == [(k, 4) for k in range(1, 5)]  # 8 steps × strength 0.5 = 4 denoising steps


def test_cancel_stops_at_the_next_step(engine: Engine) -> None:
    flag = threading.Event()
    steps: list[int] = []

    def progress(k: int, n: int) -> None:
        steps.append(k)
        if k == 2:
            flag.set()

    with pytest.raises(Cancelled):
        engine.generate(request(Mode.TEXT, steps=10), progress=progress, cancel=flag)
    assert steps == [1, 2]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strength": 1.2}, "strength must be between 0 and 1"),
        ({"candidates": 9}, "candidates must be between 1 and 4"),
        ({"steps": 0}, "steps must be between 1 and 100"),
        ({"steps": 101}, "steps must be between 1 and 100"),
        ({"cfg": 25.0}, "cfg must be between 0 and 20"),
        ({"cfg": float("nan")}, "cfg must be between"),
        ({"image_weight": 2.0}, "image_weight must be between"),
        ({"seed": -1}, "seed must be between"),
        ({"steps": 3, "strength": 0.2}, "no denoising step runs: use at least 5 steps"),
        ({"prompt": "   ", "mode": Mode.TEXT, "image": None}, "prompt is empty"),
        ({"prompt": "x" * 1001}, "1001 characters; the limit is 1000"),
        ({"style": "noir"}, "unknown style 'noir'"),
        ({"mode": Mode.INPAINT}, "inpaint needs a mask"),
        ({"mode": Mode.TEXT}, "without a mode that uses it"),
        ({"expand": "16:9"}, "expand is only used by outpaint"),
    ],
)
def test_bad_parameters_raise_one_clear_error(
    engine: Engine, source: Path, changes: dict[str, object], message: str
) -> None:
    req = request(**{"mode": Mode.IMG2IMG, "image": source, **changes})  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match=message):
        engine.generate(req)


def test_modes_that_need_an_image_say_so(engine: Engine) -> None:
    for mode in (Mode.IMG2IMG, Mode.IMAGE_PROMPT, Mode.INPAINT, Mode.OUTPAINT):
        with pytest.raises(InvalidRequest, match=f"{mode.value} needs an image"):
            engine.generate(request(mode))


def test_bad_images_are_rejected_before_any_work(engine: Engine, tmp_path: Path) -> None:
    calls: list[int] = []
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(BadImage, match="not a picture"):
        engine.generate(request(Mode.IMG2IMG, image=text), progress=lambda k, n: calls.append(k))
    data = tmp_path / "full.png"
    save(gradient_image(128, 128), data)
    cut = tmp_path / "cut.png"
    cut.write_bytes(data.read_bytes()[: len(data.read_bytes()) // 2])
    with pytest.raises(BadImage, match=r"truncated|corrupt"):
        engine.generate(request(Mode.IMG2IMG, image=cut), progress=lambda k, n: calls.append(k))
    tiny = save(gradient_image(40, 80), tmp_path / "small.png")
    with pytest.raises(BadImage, match="40"):
        engine.generate(request(Mode.IMG2IMG, image=tiny))
    assert calls == []


def test_clip_skip_reads_an_earlier_layer_as_a1111_counts(engine: Engine) -> None:
    """1 is the model's own way (bit for bit); 2 reads the layer before the last, and says so in the
    PNG; past the encoder's depth it is refused with the range this model allows."""
    encoder = engine.pipes.text.text_encoder
    had_path = hasattr(encoder, "text_model")  # transformers 5.6 flattened it away
    plain = engine.generate(request(Mode.TEXT))
    one = engine.generate(request(Mode.TEXT, clip_skip=1))
    two = engine.generate(request(Mode.TEXT, clip_skip=2))
    assert np.array_equal(pixels(one.candidates[0].png), pixels(plain.candidates[0].png))
    assert not np.array_equal(pixels(two.candidates[0].png), pixels(plain.candidates[0].png))
    assert read_parameters(two.candidates[0].png)["Clip skip"] == "2"
    assert "Clip skip" not in read_parameters(plain.candidates[0].png)
    assert hasattr(encoder, "text_model") == had_path  # the path diffusers needs lasts one call only
    deepest = engine.pipes.max_clip_skip  # the tiny text encoder has 5 layers
    assert deepest == 6
    assert engine.generate(request(Mode.TEXT, clip_skip=deepest)).candidates
    with pytest.raises(
        InvalidRequest, match="clip_skip 7 goes deeper than this model's text encoder: choose 1–6"
    ):
        engine.generate(request(Mode.TEXT, clip_skip=7))
