"""Compiling the UNet on a GPU (``LIKENESS_COMPILE=1``), warmed up at start so no job pays for it.

The UNet is compiled in place (``nn.Module.compile``), so every mode's pipeline, all made with
``from_pipe`` over the same module, runs the compiled one. Shapes are static (``dynamic=False``) and
kept few: the warm-up compiles the text-to-image sizes, which are the family's fixed buckets (SDXL)
or the pixel budget at each aspect ratio, the native square among them, at one candidate with CFG.
A job at another shape (img2img of an odd-sized upload, several candidates) compiles once more on
first use, up to torch's ``recompile_limit``; past it that shape runs uncompiled.

Before compiling: ``channels_last`` memory format, and diffusers' fused QKV projections where they
cannot change a result: fusing replaces the attention processors (an IP-Adapter's among them) and
makes ``to_q``/``to_k``/``to_v`` dead weights, so a LoRA loaded onto them later would do nothing.
On the CPU none of this runs: compiling pays on a GPU, and here it would only add minutes to start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch

from bot.choices import ASPECT_RATIOS
from bot.engine.config import EngineConfig
from bot.engine.images import size_for_aspect
from bot.engine.pipelines import Pipelines

log = logging.getLogger(__name__)

WARM_STEPS = 2  # one step compiles; the second shows the compiled graph is reused, not recompiled
Compiler = Callable[[torch.nn.Module, str], None]


def compile_unets(pipes: Pipelines, config: EngineConfig, compiler: Compiler | None = None) -> None:
    """LIKENESS_COMPILE=1: prepare, compile and warm up every distinct UNet; on the CPU, say it is off."""
    accel = config.acceleration
    if not accel.compile:
        return
    if pipes.device.type == "cpu" and compiler is None:
        log.info("LIKENESS_COMPILE=1: compile is off on the cpu (it pays on a GPU; here it slows the start)")
        return
    unets = (pipes.text.unet, *pipes.extra_unets)
    fused = fuse_refusal(pipes, config)
    for unet in unets:
        unet.to(memory_format=torch.channels_last)
        if fused is None:
            unet.fuse_qkv_projections()
    if fused is None:
        pipes.text.vae.fuse_qkv_projections()
    for unet in unets:
        (compiler or _torch_compile)(unet, accel.compile_mode)
    shapes = warm_shapes(pipes)
    started = time.perf_counter()
    for width, height in shapes:
        warm_up(pipes, width, height)
    log.info(
        "compiled the UNet (mode %s, channels_last, fused QKV %s): warmed up %d shapes (%s) in %.1f s",
        accel.compile_mode,
        "on" if fused is None else f"off: {fused}",
        len(shapes),
        ", ".join(f"{w}x{h}" for w, h in shapes),
        time.perf_counter() - started,
    )


def fuse_refusal(pipes: Pipelines, config: EngineConfig) -> str | None:
    """Why fused QKV stays off for this engine, or None when it may be on."""
    if pipes.ip_embed_dim is not None or pipes.faceid_dim is not None:
        return "the IP-Adapter needs its own attention processors"
    if config.lora_dir is not None or config.styles:
        return "LoRAs load onto the separate q, k and v projections"
    return None


def warm_shapes(pipes: Pipelines) -> list[tuple[int, int]]:
    """The text-to-image sizes, native square first, each once."""
    sizes = [(pipes.native, pipes.native)]
    for aspect in ASPECT_RATIOS:
        size = size_for_aspect(aspect, pipes.native, pipes.family)
        if size not in sizes:
            sizes.append(size)
    return sizes


def warm_up(pipes: Pipelines, width: int, height: int) -> None:
    """One short text-to-image call at the size, through the same arguments a job passes, so the
    compiled graph's guards are the ones jobs meet; the dedicated inpainting UNet at native size."""
    adapters = pipes.ip_adapter_kwargs(None, 0.0, guided=True)
    generator = torch.Generator("cpu").manual_seed(0)
    common: dict[str, Any] = {"num_inference_steps": WARM_STEPS, "output_type": "latent"}
    common.update(generator=generator, width=width, height=height, **adapters)
    pipes.text(prompt="", **common)
    if pipes.extra_unets and (width, height) == (pipes.native, pipes.native):
        from PIL import Image

        image, mask = Image.new("RGB", (width, height)), Image.new("L", (width, height), 255)
        pipes.inpaint(prompt="", image=image, mask_image=mask, **common)


def _torch_compile(unet: torch.nn.Module, mode: str) -> None:
    recompiles = torch._dynamo.config
    recompiles.recompile_limit = max(recompiles.recompile_limit, 16)  # the warm-up's shapes and a few more
    unet.compile(mode=mode, fullgraph=False, dynamic=False)
