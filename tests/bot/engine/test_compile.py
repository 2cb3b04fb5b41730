"""LIKENESS_COMPILE: off on the CPU and saying so; elsewhere the UNet is prepared (channels_last, fused
QKV only where nothing depends on the separate projections), compiled in place and warmed up at the
few shapes jobs use. The compile step itself is torch's and needs a GPU; a stand-in records it here."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch

from bot.app.settings import load_settings
from bot.choices import ASPECT_RATIOS
from bot.engine.acceleration import Acceleration
from bot.engine.compile import compile_unets, fuse_refusal, warm_shapes
from bot.engine.engine import Engine
from bot.engine.family import SDXL_BUCKETS
from bot.engine.images import size_for_aspect
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import job_request, pixels

ON = Acceleration(compile=True, compile_mode="max-autotune")


class Recorder:
    """Stands in for torch.compile: records what would be compiled, and every UNet call after it."""

    def __init__(self) -> None:
        self.compiled: list[tuple[torch.nn.Module, str]] = []
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, unet: torch.nn.Module, mode: str) -> None:
        self.compiled.append((unet, mode))
        unet.register_forward_pre_hook(lambda module, args: self.shapes.append(tuple(args[0].shape)))


@pytest.fixture(scope="module")
def bare(tiny_bundle: TinyBundle) -> Iterator[Engine]:
    """An engine without adapters or LoRAs: fused QKV may be on."""
    config = load_settings(tiny_bundle.env_file, ip_adapter="none", faceid_adapter="none").engine_config
    yield Engine.load(replace(config, lora_dir=None, styles={}))


def test_on_the_cpu_compile_is_off_and_says_so(
    tiny_bundle: TinyBundle, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_settings(tiny_bundle.env_file, compile=True).engine_config
    with caplog.at_level(logging.INFO, logger="bot.engine.compile"):
        engine = Engine.load(config)
    assert "LIKENESS_COMPILE=1: compile is off on the cpu" in caplog.text
    unet = engine.pipes.text.unet
    assert unet._compiled_call_impl is None
    assert not unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)


def test_compiles_in_place_and_warms_up_at_the_text_sizes(
    bare: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    recorder, pipes = Recorder(), bare.pipes
    config = replace(load_settings(None).engine_config, acceleration=ON)
    with caplog.at_level(logging.INFO, logger="bot.engine.compile"):
        compile_unets(pipes, config, compiler=recorder)
    assert recorder.compiled == [(pipes.text.unet, "max-autotune")]  # in place: every mode shares it
    assert pipes.img2img.unet is pipes.text.unet and pipes.inpaint.unet is pipes.text.unet
    sizes = warm_shapes(pipes)
    assert sizes[0] == (pipes.native, pipes.native) and len(sizes) == len(set(sizes))
    # each warm-up size reached the UNet as a CFG batch of its latents
    scale = pipes.text.vae_scale_factor
    latents = {(shape[0], shape[2] * scale, shape[3] * scale) for shape in recorder.shapes}
    assert latents == {(2, h, w) for w, h in sizes}
    assert f"warmed up {len(sizes)} shapes" in caplog.text and "fused QKV on" in caplog.text
    assert " in " in caplog.text.split("warmed up")[1]  # the warm-up time
    unet = pipes.text.unet
    assert unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert {type(p).__name__ for p in unet.attn_processors.values()} == {"FusedAttnProcessor2_0"}
    result = bare.generate(job_request(prompt="a fox", steps=2, seed=1))  # jobs still run on it
    assert pixels(result.candidates[0].png).shape == (pipes.native, pipes.native, 3)


def test_fused_qkv_stays_off_over_adapters_and_loras(engine: Engine, tiny_bundle: TinyBundle) -> None:
    config = load_settings(tiny_bundle.env_file).engine_config
    assert fuse_refusal(engine.pipes, config) == "the IP-Adapter needs its own attention processors"
    bare_pipes = replace(engine.pipes, ip_embed_dim=None, faceid_dim=None)
    assert fuse_refusal(bare_pipes, config) == "LoRAs load onto the separate q, k and v projections"
    assert fuse_refusal(bare_pipes, replace(config, lora_dir=None, styles={})) is None


def test_sdxl_warms_its_fixed_buckets_at_real_size(tiny_sdxl_bundle: TinyBundle) -> None:
    engine = Engine.load(load_settings(tiny_sdxl_bundle.env_file).engine_config)
    real = replace(engine.pipes, native=1024)  # the real model's native size: its trained buckets
    sizes = warm_shapes(real)
    assert sizes[0] == (1024, 1024) and set(sizes) <= set(SDXL_BUCKETS)
    assert len(sizes) == len({size_for_aspect(a, 1024, real.family) for a in ASPECT_RATIOS})
