"""Running out of memory anywhere in a job (not only in the diffusers call) releases memory and says so;
public PNGs name the model, never the operator's path to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import bot.engine.engine as engine_module
from bot.engine.device import release_memory
from bot.engine.engine import Engine
from bot.engine.faces import load_face_analyzer
from bot.engine.identity import encode_identity
from bot.engine.masks import composite
from bot.engine.memory import is_out_of_memory
from bot.engine.metadata import LOCAL_MODEL, public_model_name, read_parameters
from bot.errors import Cancelled, OutOfMemory
from bot.jobs import GenerationRequest
from bot.params import Mode
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import box_mask, gradient_image, job_request, save

STEPS = 2


def request(mode: Mode = Mode.TEXT, **kw: object) -> GenerationRequest:
    base: dict[str, object] = {"prompt": "a portrait", "mode": mode, "steps": STEPS, "seed": 5}
    base.update(kw)
    return job_request(**base)


def raising(error: BaseException) -> Callable[..., Any]:
    def fail(*args: object, **kwargs: object) -> Any:
        raise error

    return fail


@pytest.fixture
def released(monkeypatch: pytest.MonkeyPatch) -> list[torch.device]:
    """Each device ``release_memory`` ran for (it still runs: a recorder that calls through)."""
    calls: list[torch.device] = []

    def recorder(device: torch.device) -> None:
        calls.append(device)
        release_memory(device)

    monkeypatch.setattr(engine_module, "release_memory", recorder)
    return calls


@pytest.fixture
def inpaint(tmp_path: Path) -> GenerationRequest:
    image = save(gradient_image(64, 64), tmp_path / "image.png")
    mask = save(box_mask(64, 64, (16, 16, 48, 48)), tmp_path / "mask.png")
    return request(Mode.INPAINT, image=image, mask=mask, strength=0.8)


def test_out_of_memory_while_compositing_releases_memory(
    engine: Engine,
    inpaint: GenerationRequest,
    released: list[torch.device],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "composite", raising(torch.OutOfMemoryError("CUDA out of memory")))
    with pytest.raises(
        OutOfMemory, match=r"the cpu ran out of memory for 1 candidate\(s\): try fewer"
    ) as info:
        engine.generate(inpaint)
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)
    assert released == [engine.pipes.device]

    broken = RuntimeError("CUDA error: an illegal memory access was encountered")  # not memory
    monkeypatch.setattr(engine_module, "composite", raising(broken))
    with pytest.raises(RuntimeError) as other:
        engine.generate(inpaint)
    assert other.value is broken and released == [engine.pipes.device]  # passed on as it was

    monkeypatch.setattr(engine_module, "composite", composite)
    assert len(engine.generate(inpaint).candidates) == 1  # the engine (and its lock) lives on


def test_out_of_memory_while_scoring_faces_releases_memory(
    engine: Engine, tiny_bundle: TinyBundle, released: list[torch.device], monkeypatch: pytest.MonkeyPatch
) -> None:
    analyzer = load_face_analyzer("insightface", tiny_bundle.face_model_dir, 128)
    scorer = Engine(engine.pipes, engine.model_name, analyzer)
    identity = tuple(
        encode_identity(torch.randn(512, generator=torch.Generator().manual_seed(k)).numpy())
        for k in range(2)
    )
    # What MPS raises: a plain RuntimeError that says so.
    oom = RuntimeError("MPS backend out of memory (MPS allocated: 9.00 GB, other allocations: 1.00 GB)")
    monkeypatch.setattr(engine_module, "score_candidates", raising(oom))
    with pytest.raises(OutOfMemory, match="ran out of memory for 2 candidate"):
        scorer.generate(request(identity=identity, candidates=2))
    assert released == [engine.pipes.device]


def test_what_counts_as_out_of_memory() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_out_of_memory(Cancelled())


# --- the model's name in public PNGs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("stable-diffusion-v1-5/stable-diffusion-v1-5", "stable-diffusion-v1-5/stable-diffusion-v1-5"),
        ("SG161222/Realistic_Vision_V6.0_B1_noVAE", "SG161222/Realistic_Vision_V6.0_B1_noVAE"),
        ("/home/op/models/realvis", "realvis"),
        ("/home/op/models/realvis/", "realvis"),
        ("~/models/dreamshaper_8.safetensors", "dreamshaper_8"),
        ("C:\\models\\x.safetensors", "x"),
        ("D:\\Stable Diffusion\\juggernaut.ckpt", "juggernaut"),
        ("./models/realvis", "realvis"),
        ("/root/.cache/huggingface/hub/models--Lykon--dreamshaper-8/snapshots/0a1b2c", "Lykon/dreamshaper-8"),
        ("/", LOCAL_MODEL),
        ("C:\\", LOCAL_MODEL),
    ],
)
def test_public_model_name(model: str, name: str) -> None:
    assert public_model_name(model) == name


def test_an_existing_folder_that_looks_like_a_hub_id_is_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert public_model_name("models/realvis") == "models/realvis"  # not on disk: a hub id
    (tmp_path / "models" / "realvis").mkdir(parents=True)
    assert public_model_name("models/realvis") == "realvis"  # diffusers would load the folder


def test_generated_png_names_the_model_not_its_path(engine: Engine, tiny_bundle: TinyBundle) -> None:
    result = engine.generate(request())
    model = read_parameters(result.candidates[0].png)["Model"]
    assert model == "sd" == result.model  # the tiny bundle's folder, at <temp>/tiny…/sd
    assert "/" not in model and "\\" not in model
    assert str(tiny_bundle.root) not in result.candidates[0].png.decode("latin-1")
