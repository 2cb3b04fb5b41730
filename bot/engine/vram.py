"""Fitting the card (``LIKENESS_VRAM``): which weights stay on it, chosen once at start.

``low`` is diffusers' model CPU offload (each model moves to the card only while it runs: the text
encoders, then the UNet, then the VAE), VAE tiling and slicing (a large or batched decode in pieces),
and attention slicing where it helps: on Apple's MPS only, since PyTorch's fused attention on CUDA
and the CPU never holds the full attention matrix anyway, and never over an IP-Adapter, whose
attention processors it would replace. ``auto`` compares the card's memory with what the model
needs and logs its choice; with no card (the CPU, or MPS's shared memory) it keeps everything in
place. Every mode's pipeline gets the hooks: ``maybe_free_model_hooks`` at the end of each call
re-installs the calling pipeline's own, and the modes share their modules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from bot.engine.acceleration import Vram
from bot.engine.device import tensor_bytes
from bot.errors import SettingsInvalid

log = logging.getLogger(__name__)

GB = 2**30
CONTROLNET_SHARE = 0.5  # a ControlNet holds about half its UNet's weights (SD 1.5 and SDXL alike)
WORKING_BYTES_PER_PIXEL = 1600  # activations per output pixel at 2 bytes a value: an estimate, to check


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """What ``LIKENESS_VRAM`` chose for one model: offload or not, and why (as logged)."""

    setting: Vram
    low: bool
    device: torch.device
    reason: str

    @property
    def weights_device(self) -> torch.device:
        """Where weights are put when loaded: offloaded ones wait on the CPU until they run."""
        return torch.device("cpu") if self.low else self.device


def card_bytes(device: torch.device) -> int | None:
    """The card's total memory; None where there is no card of its own (CPU, MPS)."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.get_device_properties(device).total_memory)


def needed_bytes(pipe: Any, native: int, controlnets: int, extra_unet: bool) -> int:
    """About what a job needs on the card: every weight loaded, the ControlNets and an inpainting UNet
    that load later, and the activations at the native size."""
    weights = tensor_bytes(m for m in pipe.components.values() if isinstance(m, torch.nn.Module))
    unet = tensor_bytes([pipe.unet])
    later = int(unet * CONTROLNET_SHARE * controlnets) + (unet if extra_unet else 0)
    element = int(next(pipe.unet.parameters()).element_size())
    working = native * native * WORKING_BYTES_PER_PIXEL * element // 2
    return weights + later + working


def choose(
    setting: Vram, device: torch.device, need: int | None = None, card: int | None = None
) -> MemoryPlan:
    """The plan for ``setting`` on ``device``; ``auto`` weighs ``need`` against ``card`` bytes."""
    if setting is Vram.LOW:
        saves = "" if device.type == "cuda" else f" (on {device.type} it saves nothing: one memory holds all)"
        reason = f"LIKENESS_VRAM=low: model offload, VAE tiling and slicing{saves}"
        return MemoryPlan(setting, True, device, reason)
    if setting is Vram.HIGH:
        return MemoryPlan(setting, False, device, "LIKENESS_VRAM=high: every weight stays on the card")
    if card is None:
        return MemoryPlan(
            setting, False, device, f"LIKENESS_VRAM=auto: {device.type} has no card memory of its own: high"
        )
    assert need is not None
    low = card < need
    return MemoryPlan(
        setting,
        low,
        device,
        f"LIKENESS_VRAM=auto: the card has {card / GB:.1f} GB and this model needs about {need / GB:.1f} GB: "
        + ("low (model offload, VAE tiling and slicing)" if low else "high"),
    )


def plan_memory(
    setting: Vram,
    device: torch.device,
    pipe: Any,
    native: int,
    controlnets: int,
    extra_unet: bool,
    compiled: bool,
) -> MemoryPlan:
    """Choose once at start and log the choice; ``auto`` choosing offload under ``LIKENESS_COMPILE=1``
    is refused in one line, as ``low`` with it is by the settings."""
    card = card_bytes(device) if setting is Vram.AUTO else None
    need = needed_bytes(pipe, native, controlnets, extra_unet) if card is not None else None
    plan = choose(setting, device, need, card)
    if plan.low and compiled:
        raise SettingsInvalid(
            f"invalid settings LIKENESS_VRAM=auto with LIKENESS_COMPILE=1: {plan.reason.split(': ', 1)[1]}, "
            "and a compiled UNet cannot be offloaded; set LIKENESS_COMPILE=0 or use a larger card"
        )
    log.info("%s", plan.reason)
    return plan


def apply_memory(plan: MemoryPlan, pipes: Iterable[Any], adapters: bool) -> None:
    """Offload hooks on every given pipeline, tiling and slicing on their VAEs; nothing for ``high``."""
    if not plan.low:
        return
    for pipe in pipes:
        pipe.enable_model_cpu_offload(device=plan.device)
        pipe.vae.enable_tiling()
        pipe.vae.enable_slicing()
        if plan.device.type == "mps" and not adapters:
            pipe.enable_attention_slicing()
    if plan.device.type == "mps" and adapters:
        log.info("attention slicing off: it would replace the IP-Adapter's attention processors")


def follow(plan: MemoryPlan | None, derived: Any) -> None:
    """A pipeline derived later (a ControlNet's) gets the same hooks as the modes it came from."""
    if plan is not None and plan.low:
        derived.enable_model_cpu_offload(device=plan.device)


def encoders_off(plan: MemoryPlan | None, pipe: Any) -> None:
    """Before a job's denoising, under offload: the text and image encoders ran while the job was
    planned, and diffusers' chain takes only the last one in line before the UNet off the card (the
    image encoder, which a job without an image prompt never runs). Take them all off first."""
    if plan is not None and plan.low:
        pipe.maybe_free_model_hooks()
