"""Structure control: ControlNets attached to the loaded pipelines with ``from_pipe``, never a reload.

Each ControlNet (and the depth model) loads on the first job that asks for it and stays loaded; the
mode's ControlNet pipeline is derived from the mode's own pipeline, so it shares the UNet, the text
encoders, the VAE, the adapters and the LoRAs already on them. A job without structure never
touches this module, and so runs exactly as before.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    ControlNetModel,
    DiffusionPipeline,
)
from PIL import Image

from bot.choices import Structure
from bot.engine.config import EngineConfig
from bot.engine.device import tensor_bytes
from bot.engine.family import CONTROLNETS
from bot.engine.metadata import public_model_name
from bot.engine.pickles import folder_options
from bot.engine.pipelines import Pipelines
from bot.engine.structure import DepthEstimator, canny_map
from bot.engine.vram import follow
from bot.errors import InvalidRequest, ModelUnavailable

log = logging.getLogger(__name__)

_AUTO = {"text": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image}


@dataclass(frozen=True, slots=True)
class Attached:
    """What a job runs with when it keeps a structure."""

    pipe: DiffusionPipeline
    control: Image.Image  # the map, as the result's Show structure shows it
    model: str  # the ControlNet's public name
    inputs: dict[str, Any]


def setting_of(kind: str) -> str:
    return f"LIKENESS_CONTROLNET_{kind.upper()}"


class StructureControl:
    """The configured ControlNets and depth model of one engine, each loaded once on first use."""

    def __init__(self, config: EngineConfig, pipes: Pipelines, depth: DepthEstimator | None = None) -> None:
        """``depth``: another model's depth estimator to share (the same ``depth_model``, loaded once)."""
        self.pipes = pipes
        self.offline = config.offline
        family = CONTROLNETS[pipes.family]
        self.sources = {
            kind: family[kind] if where.strip().lower() == "auto" else where
            for kind, where in config.controlnets.items()
            if kind in config.structures
        }
        self.depth = (
            None
            if config.depth_model is None
            else depth
            if depth is not None and depth.model == config.depth_model
            else DepthEstimator(config.depth_model, str(pipes.device), config.offline)
        )
        self._nets: dict[str, ControlNetModel] = {}
        self._derived: dict[tuple[str, str], DiffusionPipeline] = {}
        self._lock = threading.Lock()

    @property
    def weight_bytes(self) -> int:
        """The ControlNets loaded so far (the depth model is shared between models, so not counted)."""
        return tensor_bytes(self._nets.values())

    def model_name(self, kind: str) -> str:
        """The ControlNet's public name, as the PNG's parameters record it."""
        return public_model_name(self.sources[kind])

    def condition(self, kind: str, image: Image.Image) -> Image.Image:
        """The map the ControlNet reads: canny edges, or depth (near is bright), at ``image``'s size."""
        if kind == Structure.CANNY:
            return canny_map(image)
        assert self.depth is not None, "depth is only offered with a depth model"
        try:
            return self.depth.depth_map(image)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(
                f"cannot load the depth model {self.depth.model!r} for structure depth: {_first_line(exc)}; "
                "point LIKENESS_DEPTH_MODEL at a local copy, or use structure canny"
            ) from exc

    def attach(
        self,
        mode: str,
        kind: str,
        weight: float,
        source: Image.Image,
        size: tuple[int, int],
        region: tuple[int, int, int, int] | None = None,
    ) -> Attached:
        """The ``mode`` pipeline's ControlNet sibling and its arguments, for ``source`` at ``size``:
        text-to-image pipelines read the map as ``image``, the others as ``control_image``. With a
        ``region`` (outpaint: where the original sits) only that part is mapped, and the rest is
        black: no edges and far away, so the new area is free."""
        if source.size != size:
            source = source.resize(size, Image.Resampling.LANCZOS)
        if region is None:
            control = self.condition(kind, source)
        else:
            control = Image.new("RGB", size)
            control.paste(self.condition(kind, source.crop(region)), region[:2])
        key = "image" if mode == "text" else "control_image"
        inputs = {key: control, "controlnet_conditioning_scale": float(weight)}
        return Attached(self.pipeline(kind, mode), control, self.model_name(kind), inputs)

    def pipeline(self, kind: str, mode: str) -> DiffusionPipeline:
        """The ControlNet pipeline of ``mode`` ("text", "img2img" or "inpaint"), derived once."""
        with self._lock:
            key = (kind, mode)
            if key not in self._derived:
                net = self._net(kind)
                if mode == "inpaint":  # the inpaint pipeline may carry its own (9-channel) UNet
                    derived = AutoPipelineForInpainting.from_pipe(self.pipes.inpaint, controlnet=net)
                else:
                    derived = _AUTO[mode].from_pipe(self.pipes.text, controlnet=net)
                derived.set_progress_bar_config(disable=True)
                follow(self.pipes.memory, derived)  # LIKENESS_VRAM=low: the ControlNet offloaded too
                self._derived[key] = derived
            return self._derived[key]

    def _net(self, kind: str) -> ControlNetModel:
        if kind in self._nets:
            return self._nets[kind]
        source = self.sources.get(kind)
        if source is None:
            raise InvalidRequest(
                f"structure {kind} is not set up on this bot (the operator sets {setting_of(kind)})"
            )
        started = time.perf_counter()
        try:
            net = ControlNetModel.from_pretrained(
                source, dtype=self.pipes.dtype, local_files_only=self.offline, **folder_options()
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailable(
                f"cannot load the {kind} ControlNet from {source!r}: {_first_line(exc)}; download it on a "
                f"connected machine or point {setting_of(kind)} at a local diffusers folder "
                "(python -m bot tiny-models DIR builds a tiny offline bundle)"
            ) from exc
        width, base = int(net.config.cross_attention_dim), self.pipes.cross_width
        if width != base:
            family = self.pipes.family.label
            raise ModelUnavailable(
                f"the {kind} ControlNet {public_model_name(source)!r} is not for {family} (its text width is "
                f"{width}, the model's {base}): set {setting_of(kind)} to a {family} ControlNet, or auto"
            )
        memory = self.pipes.memory
        if self.pipes.device.type != "cpu" and not (memory is not None and memory.low):
            net.to(self.pipes.device)
        log.info(
            "structure: %s ControlNet %s loaded in %.1f s",
            kind,
            public_model_name(source),
            time.perf_counter() - started,
        )
        self._nets[kind] = net
        return net


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
