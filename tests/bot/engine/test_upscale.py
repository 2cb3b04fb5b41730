"""Upscaling through spandrel's real loader, on the tiny bundle's RRDBNet file (Real-ESRGAN's layout):
sizes, tiles against one pass, the detail pass with face lock, and the PNG's parameters."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bot.engine.engine import Engine
from bot.engine.metadata import encode_png, read_parameters
from bot.engine.tiles import Blender, tile_boxes, tile_starts
from bot.engine.upscaler import Upscaler, locate
from bot.errors import Cancelled, InvalidRequest, ModelUnavailable
from bot.tiny import TinyBundle
from bot.tiny.upscaler import save_tiny_upscaler, tiny_rrdbnet_state
from tests.bot.engine.helpers import gradient_image, job_request, pixels, save
from tests.bot.engine.test_face_lock import ScriptedAnalyzer, character_of, identity

TILED_TOLERANCE = 1  # of 255: tiles whose margin covers the model's reach differ by rounding alone


@pytest.fixture(scope="module")
def upscaler(tiny_bundle: TinyBundle) -> Upscaler:
    return Upscaler(str(tiny_bundle.upscaler))


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8), "RGB")


def test_the_tiny_file_loads_as_real_esrgans_architecture(upscaler: Upscaler) -> None:
    descriptor = upscaler.load()
    assert descriptor.architecture.id == "ESRGAN" and upscaler.scale == 4
    assert upscaler.name == "tiny-RealESRGAN_x4plus"


@pytest.mark.parametrize(("factor", "size"), [(2.0, (64, 48)), (4.0, (128, 96)), (1.5, (48, 36))])
def test_factors_give_their_sizes(upscaler: Upscaler, factor: float, size: tuple[int, int]) -> None:
    assert upscaler.upscale(noise(32, 24), factor).size == size


def test_tiles_give_the_pixels_of_one_pass(upscaler: Upscaler) -> None:
    """A 72×56 picture in 32 px tiles (six of them) against the whole picture at once."""
    image = noise(72, 56, seed=3)  # larger than a tile in both directions
    ticks: list[tuple[int, int]] = []
    tiled = np.asarray(upscaler.upscale(image, 4, tile=32, progress=lambda d, t: ticks.append((d, t))))
    whole = np.asarray(upscaler.upscale(image, 4, tile=0))
    assert ticks == [(k, 6) for k in range(1, 7)]
    assert tiled.std() > 10  # the output follows the input: the comparison means something
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= TILED_TOLERANCE


def test_a_cancel_stops_between_tiles(upscaler: Upscaler) -> None:
    with pytest.raises(Cancelled):
        upscaler.upscale(noise(32, 32), 2, tile=16, stop=lambda: True)


def test_a_2x_model_runs_twice_for_4x(tmp_path: Path) -> None:
    """Real-ESRGAN x2plus: a pixel-unshuffle in front of the same 4× RRDBNet (12 input channels)."""
    state = tiny_rrdbnet_state()
    state["conv_first.weight"] = torch.randn(16, 12, 3, 3) * 0.1
    path = tmp_path / "x2.safetensors"
    from safetensors.torch import save_file

    save_file(state, str(path))
    twice = Upscaler(str(path))
    assert twice.scale == 2 and twice.passes(4) == 2 and twice.passes(2) == 1
    assert twice.upscale(noise(32, 24), 4).size == (128, 96)


def test_files_that_are_not_upscalers_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="neither a model file nor a hub file"):
        locate("no-such-model", offline=True)
    with pytest.raises(ModelUnavailable, match="not in the local hub cache"):
        locate("org/repo/RealESRGAN_x4plus.pth", offline=True)
    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2, 2)}, str(other))
    with pytest.raises(ModelUnavailable, match="not a super-resolution model spandrel reads"):
        Upscaler(str(other)).load()
    assert save_tiny_upscaler(tmp_path).name.endswith(".pth")


def test_tiles_cover_the_picture_and_blend_back_unchanged() -> None:
    assert tile_starts(64, 64, 16) == [0] and tile_starts(128, 64, 16) == [0, 32, 64]
    boxes = list(tile_boxes((100, 70), 64, 16))
    covered = np.zeros((70, 100), dtype=bool)
    for left, top, right, bottom in boxes:
        covered[top:bottom, left:right] = True
    assert covered.all() and len(boxes) == 4
    picture = gradient_image(100, 70)
    blender = Blender((100, 70), 16)
    for box in boxes:
        blender.add(picture.crop(box), box)
    assert np.array_equal(np.asarray(blender.image()), np.asarray(picture.convert("RGB")))


# --- upscale jobs on the engine -------------------------------------------------------------------


def test_a_plain_upscale_keeps_its_sources_parameters(engine: Engine, tmp_path: Path) -> None:
    source = tmp_path / "made.png"
    made = "a lighthouse\nNegative prompt: fog\nSteps: 4, Seed: 7, Size: 80x64, Model: tiny"
    source.write_bytes(encode_png(gradient_image(80, 64), made + ', Hashes: {"model": "abc"}'))
    ticks: list[tuple[int, int]] = []
    result = engine.generate(
        job_request(prompt="a lighthouse", mode="img2img", image=source, upscale=2.0, seed=7),
        progress=lambda d, t: ticks.append((d, t)),
    )
    [candidate] = result.candidates
    assert (candidate.width, candidate.height) == (160, 128) and result.params.strength is None
    assert ticks[-1] == (1, 1)
    fields = read_parameters(candidate.png)
    assert fields["prompt"] == "a lighthouse" and fields["Seed"] == "7"
    assert fields["Postprocess upscale by"] == "2"
    assert fields["Postprocess upscaler"] == "tiny-RealESRGAN_x4plus"
    assert fields["Hashes"] == '{"model": "abc"}'  # still last, where readers look for it
    assert "Denoising strength" not in fields


def test_a_plain_upscale_of_an_upload_needs_no_prompt(engine: Engine, tmp_path: Path) -> None:
    source = save(gradient_image(64, 64), tmp_path / "upload.png")
    result = engine.generate(job_request(prompt="", mode="img2img", image=source, upscale=1.5))
    fields = read_parameters(result.candidates[0].png)
    assert fields["Postprocess upscale by"] == "1.5" and fields["Size"] == "96x96"


@pytest.fixture(scope="module")
def face_locked(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A face-locked 1.5× detail upscale of a 64 px picture (2×2 native tiles, one step each), scored
    by an analyzer that finds the character at 0.8; and its keywords, for other runs."""
    source = save(gradient_image(64, 64), tmp_path_factory.mktemp("detail") / "source.png")
    ident = identity()
    scorer = Engine(
        engine.pipes,
        engine.model_name,
        ScriptedAnalyzer(character_of(ident), [0.8]),
        upscaler=engine.upscaler,
    )
    base: dict[str, object] = {"prompt": "the character", "mode": "img2img", "image": source, "seed": 5}
    base.update(upscale=1.5, strength=0.5, steps=2, identity=ident)
    ticks: list[tuple[int, int]] = []
    result = scorer.generate(
        job_request(**base, identity_weight=1.5), progress=lambda d, t: ticks.append((d, t))
    )
    return {"scorer": scorer, "base": base, "result": result, "ticks": ticks}


def test_the_detail_pass_redraws_over_tiles_and_records_it(face_locked: dict[str, Any]) -> None:
    scorer, base, result = face_locked["scorer"], face_locked["base"], face_locked["result"]
    [candidate] = result.candidates
    assert (candidate.width, candidate.height) == (96, 96)
    assert face_locked["ticks"][-1] == (1 + 4, 5)  # one SR tile, then 2×2 native tiles of 64 px
    plain = scorer.generate(job_request(**{**base, "strength": None}))  # SR alone
    assert not np.array_equal(pixels(candidate.png), pixels(plain.candidates[0].png))
    fields = read_parameters(candidate.png)
    assert fields["Denoising strength"] == "0.5" and fields["Postprocess upscale by"] == "1.5"
    assert fields["SD upscale upscaler"] == "tiny-RealESRGAN_x4plus" and fields["Size"] == "96x96"
    assert plain.candidates[0].identity == pytest.approx(0.8, abs=1e-4)  # SR alone is scored as well


def test_the_detail_pass_keeps_face_lock_and_its_score(face_locked: dict[str, Any]) -> None:
    scorer, base, result = face_locked["scorer"], face_locked["base"], face_locked["result"]
    [candidate] = result.candidates
    assert candidate.identity == pytest.approx(0.8, abs=1e-4)
    fields = read_parameters(candidate.png)
    assert fields["Face lock"] == "FaceID" and fields["Identity"] == "0.80"
    off = scorer.generate(job_request(**base, identity_weight=0.0))
    # FaceID reached the tiles:
    assert not np.array_equal(pixels(off.candidates[0].png), pixels(candidate.png))


def test_upscale_jobs_are_checked_and_cancelled(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="upscale needs an image"):
        engine.generate(job_request(prompt="x", mode="img2img", upscale=2.0))
    with pytest.raises(InvalidRequest, match=r"upscale must be between 1\.5 and 4"):
        engine.generate(job_request(prompt="x", mode="img2img", upscale=8.0))
    source = save(gradient_image(64, 64), tmp_path / "s.png")
    off = Engine(engine.pipes, engine.model_name)
    with pytest.raises(InvalidRequest, match="upscaling is off on this bot"):
        off.generate(job_request(prompt="", mode="img2img", image=source, upscale=2.0))
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        engine.generate(job_request(prompt="", mode="img2img", image=source, upscale=2.0), cancel=stop)
