"""Style LoRAs through diffusers' real loader: kohya and diffusers formats, both families, weights,
combining, caching, and every bad file refused with its reason."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.engine.family import Family
from bot.engine.metadata import read_parameters
from bot.errors import InvalidRequest, OutOfMemory
from bot.params import LoraUse
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import job_request, pixels


def adapter_of(engine: Engine, name: str) -> str:
    return "lora_" + engine.loras.short_hash(engine.loras.get(name))


def lora_engine(bundle: TinyBundle, folder: Path, **config: object) -> Engine:
    """An engine over its own copy of the bundle's LoRA folder (tests add files to it)."""
    shutil.copytree(bundle.lora_dir, folder)
    settings = load_settings(bundle.env_file)
    return Engine.load(replace(settings.engine_config, lora_dir=folder, **config))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def engine(tiny_bundle: TinyBundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield lora_engine(tiny_bundle, tmp_path_factory.mktemp("loras") / "loras")


def image(engine: Engine, *uses: LoraUse, seed: int = 1, prompt: str = "a cat") -> np.ndarray:
    result = engine.generate(job_request(prompt=prompt, steps=2, seed=seed, loras=uses))
    return pixels(result.candidates[0].png)


def test_weight_zero_is_no_lora_and_nothing_leaks_into_the_next_job(engine: Engine) -> None:
    plain = image(engine)
    assert np.array_equal(image(engine, LoraUse("ink", 0.0)), plain)  # bit for bit
    styled = image(engine, LoraUse("ink", 1.0))
    assert not np.array_equal(styled, plain)
    assert np.array_equal(image(engine), plain)  # disabled again: nothing was fused into the weights
    assert not np.array_equal(image(engine, LoraUse("ink", 0.5)), styled)  # the weight matters


def test_both_formats_load_and_combine(engine: Engine) -> None:
    ink, glow = image(engine, LoraUse("ink")), image(engine, LoraUse("glow"))
    both = image(engine, LoraUse("ink"), LoraUse("glow"))
    assert not np.array_equal(ink, glow)
    assert not np.array_equal(both, ink) and not np.array_equal(both, glow)


def test_switching_between_cached_loras_reads_no_file(engine: Engine) -> None:
    image(engine, LoraUse("ink"))
    image(engine, LoraUse("glow"))
    loads = engine.active_loras.loads
    for uses in ((LoraUse("glow", 0.3),), (LoraUse("ink", 0.7), LoraUse("glow")), ()):
        image(engine, *uses)
    assert engine.active_loras.loads == loads


def test_the_png_records_the_loras_with_their_hashes(engine: Engine) -> None:
    result = engine.generate(
        job_request(prompt="a cat <lora:ink:0.8>", steps=2, seed=1, loras=(LoraUse("glow"),))
    )
    fields = read_parameters(result.candidates[0].png)
    assert fields["prompt"] == "a cat, <lora:glow:1>, <lora:ink:0.8>"
    digest = {n: addnet_hash(engine.loras.folder / f"{n}.safetensors") for n in ("glow", "ink")}
    assert fields["Lora hashes"] == f"glow: {digest['glow']}, ink: {digest['ink']}"
    assert json.loads(fields["Hashes"]) == {"lora:glow": digest["glow"], "lora:ink": digest["ink"]}
    assert result.params.prompt == "a cat" and result.params.loras == (LoraUse("glow"), LoraUse("ink", 0.8))


def addnet_hash(path: Path) -> str:
    """A1111's LoRA hash (Civitai's AutoV3): the sha256 of what follows the safetensors header, so
    the file's metadata does not count."""
    data = path.read_bytes()
    header = int.from_bytes(data[:8], "little")
    return hashlib.sha256(data[8 + header :]).hexdigest()[:12]


def test_the_least_recently_used_lora_is_unloaded_past_the_budget(
    tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    one = (tiny_bundle.lora_dir / "ink.safetensors").stat().st_size
    small = lora_engine(tiny_bundle, tmp_path / "loras", lora_cache_bytes=one + 1)
    image(small, LoraUse("ink"))
    image(small, LoraUse("glow"))  # ink goes
    image(small, LoraUse("glow", 0.5))
    assert small.active_loras.loads == 2
    image(small, LoraUse("ink"))  # read again
    assert small.active_loras.loads == 3
    assert set(small.pipes.text.get_list_adapters()["unet"]) == {adapter_of(small, "ink")}


def test_names_that_look_alike_and_a_file_rewritten_in_place_get_their_own_weights(
    engine: Engine,
) -> None:
    """``my-lora`` and ``my_lora`` once shared one adapter: the second job ran the first's weights
    while its PNG named the second file's hash."""
    folder = engine.loras.folder
    assert folder is not None
    ink, glow = image(engine, LoraUse("ink")), image(engine, LoraUse("glow"))
    dash, underscore = folder / "my-lora.safetensors", folder / "my_lora.safetensors"
    try:
        shutil.copy(folder / "glow.safetensors", dash)
        shutil.copy(folder / "ink.safetensors", underscore)
        assert np.array_equal(image(engine, LoraUse("my-lora")), glow)
        assert np.array_equal(image(engine, LoraUse("my_lora")), ink)
        both = image(engine, LoraUse("ink", 0.25), LoraUse("my_lora", 0.5))  # one file, two names
        assert np.array_equal(both, image(engine, LoraUse("ink", 0.75)))
        dash.write_bytes((folder / "ink.safetensors").read_bytes())
        assert np.array_equal(image(engine, LoraUse("my-lora")), ink)
    finally:
        dash.unlink(missing_ok=True)
        underscore.unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "broken",
            b"not a safetensors file",
            "the LoRA “broken” cannot be used: it is not a readable safetensors",
        ),
        ("strange", {"model.diffusion_model.weight": torch.zeros(2, 2)}, "holds weights of no LoRA layout"),
        ("empty", {}, r"holds weights of no LoRA layout this bot knows \(such as “no keys”\)"),
    ],
)
def test_bad_files_are_refused_with_their_reason(
    engine: Engine, name: str, content: bytes | dict[str, torch.Tensor], message: str
) -> None:
    assert engine.loras.folder is not None
    path = engine.loras.folder / f"{name}.safetensors"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        save_file(content, str(path))
    try:
        with pytest.raises(InvalidRequest, match=message):
            image(engine, LoraUse(name))
    finally:
        path.unlink()


def test_a_lora_that_runs_out_of_memory_says_so_and_the_engine_goes_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "could not be loaded": the file is fine, the device is full. Nothing half-loaded stays."""
    assert engine.loras.folder is not None
    spare = engine.loras.folder / "spare.safetensors"  # a LoRA this engine has not loaded yet
    glow = load_file(str(engine.loras.folder / "glow.safetensors"))
    save_file({k: v * 1.5 for k, v in glow.items()}, str(spare))
    pipe = engine.pipes.text
    real = pipe.load_lora_weights

    def full(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # the adapter is in place when the allocation after it fails
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")

    try:
        monkeypatch.setattr(pipe, "load_lora_weights", full)
        with pytest.raises(
            OutOfMemory, match=r"not enough memory to load the LoRA “spare” .*try fewer LoRAs"
        ):
            image(engine, LoraUse("spare"))
        monkeypatch.undo()
        assert adapter_of(engine, "spare") not in str(pipe.get_list_adapters())
        assert not np.array_equal(image(engine, LoraUse("spare")), image(engine))  # it loads once it fits
    finally:
        spare.unlink()


def test_an_unknown_lora_names_what_exists(engine: Engine) -> None:
    with pytest.raises(
        InvalidRequest, match="there is no LoRA called “nope”: /loras lists them \\(glow, ink\\)"
    ):
        image(engine, LoraUse("nope"))


def test_a_lora_of_the_other_family_is_refused_naming_both(
    engine: Engine, tiny_sdxl_bundle: TinyBundle
) -> None:
    assert engine.loras.folder is not None
    foreign = engine.loras.folder / "xl-ink.safetensors"
    shutil.copy(tiny_sdxl_bundle.lora_dir / "ink.safetensors", foreign)
    try:
        assert {f.name: f.family for f in engine.loras.files()}["xl-ink"] is Family.SDXL
        with pytest.raises(
            InvalidRequest, match=r"“xl-ink” is made for SDXL, but this bot runs an SD 1\.5 model"
        ):
            image(engine, LoraUse("xl-ink"))
    finally:
        foreign.unlink()


def test_a_lora_that_does_not_say_its_family_is_checked_by_its_width(
    engine: Engine, tiny_sdxl_bundle: TinyBundle
) -> None:
    """The diffusers-format file names no base model: its cross-attention width tells."""
    assert engine.loras.folder is not None
    foreign = engine.loras.folder / "xl-glow.safetensors"
    shutil.copy(tiny_sdxl_bundle.lora_dir / "glow.safetensors", foreign)
    try:
        with pytest.raises(InvalidRequest, match="“xl-glow” is made for"):
            image(engine, LoraUse("xl-glow"))
    finally:
        foreign.unlink()


def test_sdxl_loras_of_both_formats(tiny_sdxl_bundle: TinyBundle, tmp_path: Path) -> None:
    sdxl = lora_engine(tiny_sdxl_bundle, tmp_path / "loras")
    assert {f.name: f.family for f in sdxl.loras.files()} == {"glow": Family.SDXL, "ink": Family.SDXL}
    plain = image(sdxl)
    assert np.array_equal(image(sdxl, LoraUse("ink", 0.0), LoraUse("glow", 0.0)), plain)
    assert not np.array_equal(image(sdxl, LoraUse("ink")), plain)
    assert not np.array_equal(image(sdxl, LoraUse("glow")), plain)
    # Both SDXL text encoders carry the LoRA.
    adapters = sdxl.pipes.text.get_list_adapters()
    assert {adapter_of(sdxl, "ink"), adapter_of(sdxl, "glow")} <= set(adapters["text_encoder"]) & set(
        adapters["text_encoder_2"]
    )
