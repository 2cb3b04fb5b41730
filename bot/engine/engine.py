"""The generation engine: one request in, PNG candidates out. Synchronous; drive it from one thread.

``generate`` reads as the diffusers pipelines do: check → prepare images → prompt → call → finish.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from bot.engine.config import EngineConfig
from bot.engine.device import release_memory
from bot.engine.faces.types import FaceAnalyzer
from bot.engine.identity import character_vector, decode_identity, faceid_input, rank_key, score_candidates
from bot.engine.images import fit_to_budget, limit_side, load_image, load_mask, size_for_aspect
from bot.engine.masks import check_mask_shape, composite, prepare_inpaint_mask
from bot.engine.metadata import encode_png, format_parameters, public_model_name
from bot.engine.outpaint import plan_outpaint
from bot.engine.pipelines import Pipelines, load_pipelines
from bot.engine.prompts import build_prompts
from bot.errors import Cancelled, InvalidRequest, LikenessError, OutOfMemory
from bot.jobs import SEED_MAX, Candidate, GenerationRequest, GenerationResult, Mode
from bot.validation import validate_request

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]  # (step done, total steps)

FALLBACK_WARNING = "face lock fell back to the image prompt on the primary image (FaceID not available)"


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


@dataclass(slots=True)
class _FaceLock:
    """How this request keeps the character's face: FaceID tokens, a fallback image prompt, or nothing."""

    face: np.ndarray | None = None  # FaceID input rows (N or 1, dim)
    image: Image.Image | None = None  # fallback: the primary reference as an image prompt
    rows: np.ndarray | None = None  # the character's reference embeddings, for scoring
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str | None:
        return "FaceID" if self.face is not None else "image prompt" if self.image is not None else None


@dataclass(slots=True)
class _Output:
    image: Image.Image
    seed: int
    score: float | None = None


class Engine:
    """Owns the loaded pipelines; one job at a time (a lock guards against accidental sharing)."""

    def __init__(self, pipes: Pipelines, model_name: str, face_analyzer: FaceAnalyzer | None = None) -> None:
        self.pipes = pipes
        self.model_name = public_model_name(model_name)  # a hub id or a folder's name, never a path
        self.face_analyzer = face_analyzer  # scores face-locked candidates when given
        self._lock = threading.Lock()

    @classmethod
    def load(cls, config: EngineConfig, face_analyzer: FaceAnalyzer | None = None) -> Engine:
        return cls(load_pipelines(config), config.model, face_analyzer)

    @property
    def native(self) -> int:
        return self.pipes.native

    def generate(
        self, request: GenerationRequest, progress: ProgressFn | None = None, cancel: CancelFlag | None = None
    ) -> GenerationResult:
        """Run one request; raises ``InvalidRequest``/``BadImage`` before any work, ``Cancelled``, and
        ``OutOfMemory`` (memory released, the engine usable for the next job) at any stage."""
        request = validate_request(request)
        assert request.seed is not None
        with self._lock:
            try:
                return self._generate(request, progress, cancel)
            except Exception as exc:
                # The diffusers call raises its own OutOfMemory (ours, so not matched here); this is
                # the rest: loading images, face analysis and scoring, compositing, encoding.
                if not is_out_of_memory(exc):
                    raise
                log.warning("out of memory outside the diffusers call", exc_info=True)
                self._release(exc)
                raise OutOfMemory(
                    f"the {self.pipes.device.type} ran out of memory for {request.candidates} candidate(s): "
                    "try fewer candidates or a smaller image"
                ) from exc

    def _generate(
        self, request: GenerationRequest, progress: ProgressFn | None, cancel: CancelFlag | None
    ) -> GenerationResult:
        assert request.seed is not None
        started = time.perf_counter()
        prepared = self._prepare(request)
        lock = self._face_lock(request)
        prompt, negative, prompt_warnings = build_prompts(self.pipes.text.tokenizer, request)
        if cancel is not None and cancel.is_set():
            raise Cancelled()

        generated = 0

        def attempt(seeds: list[int]) -> tuple[list[_Output], int]:
            nonlocal generated
            generated += len(seeds)
            images = self._run(request, prepared, prompt, negative, progress, cancel, seeds, lock)
            return self._finish(prepared, images, seeds)

        outputs, withheld = attempt([_seed(request.seed, k) for k in range(request.candidates)])
        tries, identity_warnings, scored = 1, (), False
        character = self._scoring_vector(lock)
        if character is not None:
            scored = True
            outputs, tries, withheld, identity_warnings = self._select(
                request, outputs, withheld, character, attempt, cancel
            )
        candidates = [self._encode(request, lock, out, scored) for out in outputs]
        seconds = time.perf_counter() - started
        log.info(
            "generated %d × %dx%d (%s) in %.2fs, %d tries",
            len(candidates),
            *prepared.size,
            request.mode.value,
            seconds,
            tries,
        )
        nsfw_warnings = (
            (f"{withheld} of {generated} images were withheld by the model's safety checker",)
            if withheld
            else ()
        )
        warnings = prepared.warnings + lock.warnings + prompt_warnings + nsfw_warnings + identity_warnings
        return GenerationResult(request, tuple(candidates), self.model_name, seconds, warnings, tries)

    def _release(self, exc: BaseException) -> None:
        """After running out of memory: drop the tensors the failed frames still hold (the traceback
        keeps their locals alive), then give cached blocks back, so the next job starts clean."""
        traceback.clear_frames(exc.__traceback__)
        release_memory(self.pipes.device)

    # 0. face lock --------------------------------------------------------------------------------
    def _face_lock(self, request: GenerationRequest) -> _FaceLock:
        """Choose FaceID, or the image-prompt fallback on the primary image, or say why neither works."""
        if not request.wants_identity:
            return _FaceLock()
        rows = decode_identity(request.identity) if request.identity else None
        faceid_dim = self.pipes.faceid_dim
        if faceid_dim is not None and rows is not None and rows.shape[1] == faceid_dim:
            return _FaceLock(face=faceid_input(rows, request.identity_mode), rows=rows)
        if faceid_dim is None:
            why = "this bot has no IP-Adapter FaceID loaded (LIKENESS_FACEID_ADAPTER)"
        elif rows is None:
            why = "the character has no face embeddings"
        else:
            why = (
                f"the character's face embeddings are {rows.shape[1]}-d but FaceID needs {faceid_dim}-d "
                "insightface embeddings (LIKENESS_FACE_BACKEND=insightface, then recompute the faces)"
            )
        if request.identity_image is None:
            raise InvalidRequest(f"face lock is unavailable: {why}, and no primary reference image was given")
        if self.pipes.ip_embed_dim is None:
            raise InvalidRequest(
                f"face lock is unavailable: {why}, and there is no IP-Adapter to fall back on"
            )
        if request.mode is Mode.IMAGE_PROMPT:
            raise InvalidRequest(
                f"face lock is unavailable in image_prompt mode: {why}, and the image prompt is taken"
            )
        image = load_image(request.identity_image, what="character reference")
        image.thumbnail((1024, 1024))
        return _FaceLock(image=image, rows=rows, warnings=(FALLBACK_WARNING,))

    def _scoring_vector(self, lock: _FaceLock) -> np.ndarray | None:
        analyzer = self.face_analyzer
        if analyzer is None or lock.rows is None:
            return None
        if int(analyzer.dim) != lock.rows.shape[1]:
            log.warning(
                "identity not scored: analyzer is %d-d, identity %d-d", analyzer.dim, lock.rows.shape[1]
            )
            return None
        return character_vector(lock.rows)

    def _select(
        self,
        request: GenerationRequest,
        outputs: list[_Output],
        withheld: int,
        character: np.ndarray,
        attempt: Callable[[list[int]], tuple[list[_Output], int]],
        cancel: CancelFlag | None,
    ) -> tuple[list[_Output], int, int, tuple[str, ...]]:
        """Score, regenerate the ones below ``min_identity`` with fresh seeds (bounded), keep the best."""
        assert request.seed is not None and self.face_analyzer is not None
        analyzer = self.face_analyzer
        want, floor = request.candidates, request.min_identity

        def score(batch: list[_Output]) -> list[_Output]:
            for out, value in zip(
                batch, score_candidates(analyzer, [o.image for o in batch], character), strict=True
            ):
                out.score = value
            return batch

        def passes(out: _Output) -> bool:
            return floor is None or (out.score is not None and out.score >= floor)

        pool = score(outputs)
        tries = 1
        while floor is not None and tries < request.max_tries:
            best = sorted(pool, key=lambda o: rank_key(o.score), reverse=True)[:want]
            failing = want - sum(1 for out in best if passes(out))
            if failing <= 0:
                break
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            base = request.seed + want * tries  # fresh seeds: never one already tried
            more, lost = attempt([_seed(base, k) for k in range(failing)])
            pool += score(more)
            withheld += lost
            tries += 1
        kept = sorted(pool, key=lambda o: rank_key(o.score), reverse=True)[:want]
        warnings: list[str] = [
            f"no face found in candidate with seed {out.seed}: its likeness could not be scored"
            for out in kept
            if out.score is None
        ]
        below = [out for out in kept if out.score is not None and not passes(out)]
        if floor is not None and below:
            warnings.append(
                f"{len(below)} of {len(kept)} candidate(s) stayed below min_identity {floor:g} after {tries} "
                f"tries (best {max(o.score for o in below if o.score is not None):.2f})"
            )
        return kept, tries, withheld, tuple(warnings)

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
            # The result goes back onto the user's own picture at its resolution (up to MAX_RESULT_SIDE):
            # only the masked region changes, so a large photo does not come back shrunk to the model's size.
            base = limit_side(original)
            blend = pair.blend if base.size == source.size else prepare_inpaint_mask(mask, base.size).blend
            kwargs = {
                "image": source,
                "mask_image": pair.generate,
                "width": source.width,
                "height": source.height,
                **strength_kwargs,
            }
            return _Prepared(pipes.inpaint, kwargs, source.size, base, blend, pair.warnings)
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
        seeds: list[int],
        lock: _FaceLock,
    ) -> list[Image.Image | None]:
        # One CPU generator per candidate: candidate k is reproducible alone with seed + k,
        # on any device, because the noise is drawn on the CPU.
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        reference, weight = None, request.image_weight
        if request.mode is Mode.IMAGE_PROMPT:
            assert request.image is not None
            reference = load_image(request.image, what="image")
            reference.thumbnail((1024, 1024))
        elif lock.image is not None:
            reference, weight = lock.image, request.identity_weight
        ip_kwargs = self.pipes.ip_adapter_kwargs(
            reference, weight, guided=request.cfg > 1, face=lock.face, face_weight=request.identity_weight
        )

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
                num_images_per_prompt=len(seeds),
                generator=generators,
                callback_on_step_end=on_step,
                output_type="pil",
                **prepared.kwargs,
                **ip_kwargs,
            )
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            self._release(exc)
            raise OutOfMemory(
                f"the {self.pipes.device.type} ran out of memory for {len(seeds)} candidate(s) at "
                f"{prepared.size[0]}×{prepared.size[1]}: try fewer candidates"
            ) from exc
        flags = getattr(output, "nsfw_content_detected", None) or [False] * len(output.images)
        return [None if flagged else image for image, flagged in zip(output.images, flags, strict=True)]

    # 3. back onto the original, encode ---------------------------------------------------------
    def _finish(
        self, prepared: _Prepared, images: list[Image.Image | None], seeds: list[int]
    ) -> tuple[list[_Output], int]:
        """Composite each kept image onto the original; count those the safety checker withheld."""
        outputs: list[_Output] = []
        for image, seed in zip(images, seeds, strict=True):
            if image is None:
                continue
            if prepared.original is not None and prepared.blend is not None:
                if image.size != prepared.original.size:
                    image = image.resize(prepared.original.size, Image.Resampling.LANCZOS)
                image = composite(prepared.original, image, prepared.blend)
            outputs.append(_Output(image, seed))
        return outputs, len(images) - len(outputs)

    def _encode(self, request: GenerationRequest, lock: _FaceLock, out: _Output, scored: bool) -> Candidate:
        extra: dict[str, str] = {}
        if lock.label is not None:
            extra["Face lock"] = lock.label
            extra["Identity weight"] = f"{request.identity_weight:g}"
            if lock.face is not None:
                extra["Identity mode"] = request.identity_mode
        if scored:
            extra["Identity"] = "no face" if out.score is None else f"{out.score:.2f}"
        image = out.image
        parameters = format_parameters(
            request,
            seed=out.seed,
            size=image.size,
            model=self.model_name,
            sampler=self.pipes.sampler,
            extra=extra,
        )
        return Candidate(
            encode_png(image, parameters), out.seed, image.width, image.height, parameters, out.score
        )


# MPS: "MPS backend out of memory"; torch on the CPU: "DefaultCPUAllocator: can't allocate memory";
# onnxruntime (insightface scoring): "CUDA failure 2: out of memory", "Failed to allocate memory".
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "failed to allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA raises ``torch.OutOfMemoryError``, numpy and PIL ``MemoryError``; MPS, torch's CPU allocator
    and onnxruntime raise their own errors whose message says so. Our own errors never count."""
    if isinstance(exc, LikenessError):
        return False
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    return any(text in str(exc).lower() for text in _OOM_MESSAGES)


def _seed(base: int, k: int) -> int:
    return (base + k) % (SEED_MAX + 1)
