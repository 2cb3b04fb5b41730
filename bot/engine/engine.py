"""The generation engine: one request in, PNG candidates out. Synchronous; drive it from one thread.

``generate`` reads as the diffusers pipelines do: check → prepare images → prompt → call → finish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from PIL import Image

from bot.engine.config import EngineConfig
from bot.engine.device import release_memory
from bot.engine.images import fit_to_budget, load_image, load_mask, size_for_aspect
from bot.engine.masks import check_mask_shape, composite, prepare_inpaint_mask
from bot.engine.metadata import encode_png, format_parameters
from bot.engine.outpaint import plan_outpaint
from bot.engine.pipelines import Pipelines, load_pipelines
from bot.engine.prompts import build_prompts
from bot.errors import Cancelled, OutOfMemory
from bot.jobs import SEED_MAX, Candidate, GenerationRequest, GenerationResult, Mode
from bot.validation import validate_request

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]  # (step done, total steps)


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


@dataclass(slots=True)
class _Prepared:
    """A mode's pipeline inputs, plus how to put the result back onto the original pixels."""

    pipe: Any
    kwargs: dict[str, Any]
    size: tuple[int, int]
    original: Image.Image | None = None
    blend: Image.Image | None = None
    warnings: tuple[str, ...] = ()


class Engine:
    """Owns the loaded pipelines; one job at a time (a lock guards against accidental sharing)."""

    def __init__(self, pipes: Pipelines, model_name: str) -> None:
        self.pipes = pipes
        self.model_name = model_name
        self._lock = threading.Lock()

    @classmethod
    def load(cls, config: EngineConfig) -> Engine:
        return cls(load_pipelines(config), config.model)

    @property
    def native(self) -> int:
        return self.pipes.native

    def generate(
        self, request: GenerationRequest, progress: ProgressFn | None = None, cancel: CancelFlag | None = None
    ) -> GenerationResult:
        """Run one request; raises ``InvalidRequest``/``BadImage`` before any work, ``Cancelled``."""
        request = validate_request(request)
        started = time.perf_counter()
        with self._lock:
            prepared = self._prepare(request)
            prompt, negative, prompt_warnings = build_prompts(self.pipes.text.tokenizer, request)
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            images = self._run(request, prepared, prompt, negative, progress, cancel)
        candidates, nsfw_warnings = self._finish(request, prepared, images)
        seconds = time.perf_counter() - started
        log.info(
            "generated %d × %dx%d (%s) in %.2fs", len(candidates), *prepared.size, request.mode.value, seconds
        )
        warnings = prepared.warnings + prompt_warnings + nsfw_warnings
        return GenerationResult(request, tuple(candidates), self.model_name, seconds, warnings)

    # 1. images -------------------------------------------------------------------------------
    def _prepare(self, request: GenerationRequest) -> _Prepared:
        native, pipes, mode = self.pipes.native, self.pipes, request.mode
        if mode in (Mode.TEXT, Mode.IMAGE_PROMPT):
            size = size_for_aspect(request.aspect, native)
            kwargs: dict[str, Any] = {"width": size[0], "height": size[1]}
            return _Prepared(pipes.text, kwargs, size)
        assert request.image is not None
        original = load_image(request.image, what="image")
        source = fit_to_budget(original, native) if mode is not Mode.OUTPAINT else original
        strength_kwargs = {"strength": request.strength}
        if mode is Mode.IMG2IMG:
            return _Prepared(pipes.img2img, {"image": source, **strength_kwargs}, source.size)
        if mode is Mode.INPAINT:
            assert request.mask is not None
            mask = load_mask(request.mask)
            check_mask_shape(mask.size, original.size)
            pair = prepare_inpaint_mask(mask, source.size)
            kwargs = {
                "image": source,
                "mask_image": pair.generate,
                "width": source.width,
                "height": source.height,
                **strength_kwargs,
            }
            return _Prepared(pipes.inpaint, kwargs, source.size, source, pair.blend, pair.warnings)
        assert request.expand is not None
        plan = plan_outpaint(original, request.expand, native)
        size = plan.canvas.size
        kwargs = {
            "image": plan.canvas,
            "mask_image": plan.generate_mask,
            "width": size[0],
            "height": size[1],
            **strength_kwargs,
        }
        return _Prepared(pipes.inpaint, kwargs, size, plan.canvas, plan.blend)

    # 2. the diffusers call ---------------------------------------------------------------------
    def _run(
        self,
        request: GenerationRequest,
        prepared: _Prepared,
        prompt: str,
        negative: str,
        progress: ProgressFn | None,
        cancel: CancelFlag | None,
    ) -> list[Image.Image]:
        assert request.seed is not None
        # One CPU generator per candidate: candidate k is reproducible alone with seed + k,
        # on any device, because the noise is drawn on the CPU.
        generators = [
            torch.Generator("cpu").manual_seed(_seed(request.seed, k)) for k in range(request.candidates)
        ]
        reference = None
        if request.mode is Mode.IMAGE_PROMPT:
            assert request.image is not None
            reference = load_image(request.image, what="image")
            reference.thumbnail((1024, 1024))
        ip_kwargs = self.pipes.ip_adapter_kwargs(reference, request.image_weight, guided=request.cfg > 1)

        def on_step(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            # Raising here stops at this step and skips the VAE decode of a result nobody wants.
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            if progress is not None:
                progress(step + 1, int(pipe.num_timesteps))
            return tensors

        try:
            output = prepared.pipe(
                prompt=prompt,
                negative_prompt=negative or None,
                num_inference_steps=request.steps,
                guidance_scale=request.cfg,
                num_images_per_prompt=request.candidates,
                generator=generators,
                callback_on_step_end=on_step,
                output_type="pil",
                **prepared.kwargs,
                **ip_kwargs,
            )
        except torch.OutOfMemoryError as exc:
            release_memory(self.pipes.device)
            raise OutOfMemory(
                f"the {self.pipes.device.type} ran out of memory for {request.candidates} candidate(s) at "
                f"{prepared.size[0]}×{prepared.size[1]}: try fewer candidates"
            ) from exc
        flags = getattr(output, "nsfw_content_detected", None) or [False] * len(output.images)
        return [None if flagged else image for image, flagged in zip(output.images, flags, strict=True)]

    # 3. back onto the original, encode ---------------------------------------------------------
    def _finish(
        self, request: GenerationRequest, prepared: _Prepared, images: list[Image.Image | None]
    ) -> tuple[list[Candidate], tuple[str, ...]]:
        assert request.seed is not None
        candidates: list[Candidate] = []
        withheld = 0
        for k, image in enumerate(images):
            if image is None:
                withheld += 1
                continue
            if prepared.original is not None and prepared.blend is not None:
                image = composite(prepared.original, image, prepared.blend)
            seed = _seed(request.seed, k)
            parameters = format_parameters(
                request, seed=seed, size=image.size, model=self.model_name, sampler=self.pipes.sampler
            )
            candidates.append(
                Candidate(encode_png(image, parameters), seed, image.width, image.height, parameters)
            )
        warnings = (
            (f"{withheld} of {len(images)} images were withheld by the model's safety checker",)
            if withheld
            else ()
        )
        return candidates, warnings


def _seed(base: int, k: int) -> int:
    return (base + k) % (SEED_MAX + 1)
