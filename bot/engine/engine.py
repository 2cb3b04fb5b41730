"""The generation engine: one request in, PNG candidates out. Synchronous; drive it from one thread.

``generate`` reads as a diffusers pipeline's ``__call__``, numbered steps in call order:

1. check inputs      the params' rules and defaults, then the engine's ``check_inputs``
2. prepare images    the mode's pipeline, its image and mask arguments, the size, the structure map
3. face lock         FaceID tokens, or the primary reference as an image prompt
4. encode prompt     style preset, the job's LoRAs, A1111's weights and chunks, the IP-Adapter embeddings
5. denoise           one batch of seeds through the pipeline, back onto the original's pixels
6. keep the best     score the faces, remake those below ``min_identity`` (bounded), best first
7. check             the NSFW classifier scores the kept images, in one batch (``bot.engine.nsfw``)
8. encode            each kept image as a PNG carrying its parameters

Steps 1–4 make a ``Plan``, once per job; step 5 runs once per round of seeds.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from bot.choices import SAMPLER_SCHEDULES, DescribeDetail, Speed
from bot.engine.acceleration import StepCache
from bot.engine.captions import Captioner
from bot.engine.checks import Capabilities, FaceRoute, check_inputs
from bot.engine.compile import compile_unets
from bot.engine.config import DEFAULT_LORA_CACHE_BYTES, EngineConfig
from bot.engine.control import StructureControl
from bot.engine.describe import prompts_for
from bot.engine.device import release_memory, resolve_device
from bot.engine.embeddings import ActiveEmbeddings, Embedding, EmbeddingLibrary
from bot.engine.faces.types import FaceAnalyzer
from bot.engine.hashes import checkpoint_hash
from bot.engine.identity import character_vector, decode_identity, faceid_input, rank_key, score_candidates
from bot.engine.images import fit_to_budget, limit_side, load_image, load_mask, size_for_aspect
from bot.engine.loras import ActiveLoras, LoraFile, LoraLibrary
from bot.engine.masks import check_mask_shape, composite, prepare_inpaint_mask
from bot.engine.memory import is_out_of_memory
from bot.engine.metadata import encode_png, format_parameters, public_model_name
from bot.engine.nsfw import NsfwClassifier
from bot.engine.outpaint import plan_outpaint
from bot.engine.pipelines import Pipelines, clip_skip_path, load_pipelines
from bot.engine.prompts import build_prompts, prompt_arguments
from bot.engine.samplers import build_scheduler
from bot.engine.samplers import using as using_scheduler
from bot.engine.speed import Accelerator, Accelerators, accelerator_for
from bot.engine.step_cache import cached_steps
from bot.engine.structure import DepthEstimator
from bot.engine.upscale_job import run_upscale
from bot.engine.upscaler import Upscaler
from bot.engine.vram import encoders_off
from bot.engine.weighting import EmptyPrompts
from bot.errors import Cancelled, InvalidRequest, OutOfMemory
from bot.jobs import Candidate, GenerationRequest, GenerationResult
from bot.params import SEED_MAX, Defaults, JobParams, LoraUse, Mode, SpeedRule, resolve, speed_rule

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]  # (step done, total steps)

FALLBACK_WARNING = "face lock fell back to the image prompt on the primary image (FaceID not available)"
REFERENCE_SIDE = 1024  # an image prompt is encoded from at most this size


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


@dataclass(slots=True)
class Plan:
    """One job ready to denoise (steps 1–4): made once, used by every round of seeds."""

    params: JobParams  # resolved
    pipe: Any
    inputs: dict[str, Any]  # the pipeline's image, mask, size and strength arguments
    size: tuple[int, int]
    prompt: str = ""  # styled, as written (A1111's syntax in it)
    negative: str = ""
    conditioning: dict[str, Any] = field(default_factory=dict)  # the pipeline's prompt arguments
    adapters: dict[str, Any] = field(default_factory=dict)  # IP-Adapter embeddings, one per adapter
    face: FaceRoute | None = None
    character: np.ndarray | None = None  # what candidates' faces are scored against; None: unscored
    loras: list[LoraFile] = field(default_factory=list)  # active for this job, in the params' order
    embeddings: list[Embedding] = field(default_factory=list)  # named in the prompt or the negative
    original: Image.Image | None = None  # inpaint/outpaint: the picture the result goes back onto
    blend: Image.Image | None = None
    warnings: tuple[str, ...] = ()
    control: Image.Image | None = None  # the structure map the ControlNet reads (Show structure)
    control_model: str | None = None
    region: tuple[int, int, int, int] | None = None  # outpaint: where the original sits on the canvas
    speed_lora: LoraFile | None = None  # fast and turbo: the family's acceleration LoRA, beside the job's


@dataclass(slots=True)
class _Output:
    image: Image.Image
    seed: int
    score: float | None = None
    nsfw: float | None = None  # the NSFW classifier's score; None: no classifier


@dataclass(slots=True)
class _Tally:
    """Rounds run, images made, and how many of those the safety checker withheld."""

    rounds: int = 0
    generated: int = 0
    withheld: int = 0


class Engine:
    """Owns the loaded pipelines; one job at a time (``_busy`` guards against accidental sharing)."""

    def __init__(
        self,
        pipes: Pipelines,
        model_name: str,
        face_analyzer: FaceAnalyzer | None = None,
        loras: LoraLibrary | None = None,
        lora_cache_bytes: int = DEFAULT_LORA_CACHE_BYTES,
        styles: Mapping[str, tuple[LoraUse, ...]] | None = None,
        structure: StructureControl | None = None,
        captioner: Captioner | None = None,
        model_hash: str | None = None,
        embeddings: EmbeddingLibrary | None = None,
        nsfw: NsfwClassifier | None = None,
        upscaler: Upscaler | None = None,
    ) -> None:
        self.pipes = pipes
        self.upscaler = upscaler  # upscale jobs' super-resolution model; None: upscaling off
        self.nsfw = nsfw  # scores every kept output; None: the model's own safety checker only
        self.clip_skip: int | None = None  # the model's own default (LIKENESS_MODELS), when a job gives none
        self.step_cache = StepCache.OFF  # LIKENESS_STEP_CACHE: DeepCache around every denoising call
        self.model_hash = model_hash  # A1111's, of a checkpoint file; None for a folder or hub id
        self.captioner = captioner  # /describe, and a prompt left to the image; None: off
        self.structure = structure  # the ControlNets; None: structure control off
        self.model_name = public_model_name(model_name)  # a hub id or a folder's name, never a path
        self.face_analyzer = face_analyzer  # scores face-locked candidates when given
        self.loras = loras or LoraLibrary(None)
        self.defaults = Defaults(
            styles=styles or {}
        )  # the engine's own; the server's budget is not its to apply
        self.active_loras = ActiveLoras(self.loras, lora_cache_bytes)
        self.embeddings = embeddings or EmbeddingLibrary(None)
        self.active_embeddings = ActiveEmbeddings(self.embeddings)
        self.empty_prompts = EmptyPrompts()
        self.accelerators: Accelerators = {}  # fast and turbo's LoRAs by family (``bot.engine.speed``)
        self.offline = False  # an acceleration LoRA from the hub comes from its cache only
        self._speed_files: dict[Accelerator, LoraFile] = {}  # each acceleration LoRA, read once
        self._busy = threading.Lock()

    @classmethod
    def load(
        cls,
        config: EngineConfig,
        face_analyzer: FaceAnalyzer | None = None,
        *,
        captioner: Captioner | None = None,
        depth: DepthEstimator | None = None,
        nsfw: NsfwClassifier | None = None,
        upscaler: Upscaler | None = None,
    ) -> Engine:
        """Load ``config``'s model. ``captioner``, ``depth`` and ``nsfw``: another model's, shared when
        they are the models this configuration names (they do not depend on the checkpoint)."""
        library = LoraLibrary(config.lora_dir)
        if config.nsfw_model is None:
            nsfw = None
        elif nsfw is None or nsfw.model != config.nsfw_model:
            device, dtype = resolve_device(config.device, config.dtype)
            nsfw = NsfwClassifier(config.nsfw_model, str(device), config.offline, dtype)
            nsfw.load()  # every job needs it: a missing classifier stops start-up, not each job
        if config.upscaler is None:
            upscaler = None
        elif upscaler is None or upscaler.model != config.upscaler:
            device, _ = resolve_device(config.device, config.dtype)
            upscaler = Upscaler(config.upscaler, str(device), config.offline)  # loaded by the first upscale
        pipes = load_pipelines(config)
        structure = StructureControl(config, pipes, depth) if config.structures else None
        if config.caption_model is None:
            captioner = None
        elif captioner is None or captioner.model != config.caption_model:
            captioner = Captioner(config.caption_model, str(pipes.device), config.offline, pipes.dtype)
        engine = cls(
            pipes,
            config.name or config.model,
            face_analyzer,
            library,
            config.lora_cache_bytes,
            config.styles,
            structure,
            captioner,
            checkpoint_hash(config.model),
            EmbeddingLibrary(config.embedding_dir),
            nsfw,
            upscaler,
        )
        engine.clip_skip = config.clip_skip
        engine.step_cache = config.acceleration.step_cache
        compile_unets(pipes, config)  # LIKENESS_COMPILE=1 on a GPU: compiled and warmed up now, at start
        engine.accelerators = config.accelerators
        engine.offline = config.offline
        if config.distilled is not None:
            engine.defaults = replace(engine.defaults, distilled_model=config.distilled)
        return engine

    @property
    def weight_bytes(self) -> int:
        """The memory its weights hold (every distinct tensor of its pipelines, adapters and
        ControlNets included): what ``LIKENESS_MODEL_CACHE`` in megabytes counts."""
        return self.pipes.weight_bytes + (self.structure.weight_bytes if self.structure is not None else 0)

    @property
    def native(self) -> int:
        return self.pipes.native

    @property
    def capabilities(self) -> Capabilities:
        structures = frozenset(self.structure.sources) if self.structure is not None else frozenset()
        return Capabilities(
            self.pipes.ip_embed_dim is not None,
            self.pipes.faceid_dim,
            self.pipes.family,
            structures,
            describe=self.captioner is not None,
            native=self.pipes.native,
            upscale=self.upscaler is not None,
            speeds=frozenset((f, s) for f, speeds in self.accelerators.items() for s in speeds),
            distilled=self.defaults.distilled_model is not None,
        )

    def checked(self, request: GenerationRequest) -> tuple[JobParams, FaceRoute | None]:
        """The request's params resolved (the model's clip skip filled in) and checked against what
        this engine can do: every job, generation or upscale, starts here."""
        params = resolve(request.params, self.defaults)
        if params.clip_skip is None and self.clip_skip is not None:
            params = replace(params, clip_skip=self.clip_skip)
        face = check_inputs(
            params,
            self.capabilities,
            image=request.image is not None,
            mask=request.mask is not None,
            identity=request.identity,
            loras=self.loras,
            embeddings=self.embeddings,
        )
        return params, face

    def generate(
        self, request: GenerationRequest, progress: ProgressFn | None = None, cancel: CancelFlag | None = None
    ) -> GenerationResult:
        """Run one request; raises ``InvalidRequest``/``BadImage`` before any work, ``Cancelled``, and
        ``OutOfMemory`` (memory released, the engine usable for the next job) at any stage."""
        with self._busy:
            try:
                if request.params.describe is not None:
                    return self._describe(request)
                if request.params.upscale is not None:
                    return run_upscale(self, request, progress, cancel)
                return self._generate(request, progress, cancel)
            except OutOfMemory as exc:  # the diffusers call's, or a LoRA's load: said in its own words
                self._release(exc)
                raise
            except Exception as exc:
                # The rest: loading images, face analysis and scoring, compositing, encoding.
                if not is_out_of_memory(exc):
                    raise
                log.warning("out of memory outside the diffusers call", exc_info=True)
                self._release(exc)
                raise OutOfMemory(
                    f"the {self.pipes.device.type} ran out of memory for {request.params.candidates} "
                    "candidate(s): try fewer candidates or a smaller image"
                ) from exc

    def _generate(
        self, request: GenerationRequest, progress: ProgressFn | None, cancel: CancelFlag | None
    ) -> GenerationResult:
        started = time.perf_counter()
        plan = self.plan(request)
        _stop_if(cancel)
        params, tally = plan.params, _Tally()
        assert params.seed is not None
        outputs = self._denoise(plan, _seeds(params.seed, params.candidates), tally, progress, cancel)
        notes: tuple[str, ...] = ()
        if plan.character is not None:
            outputs, notes = self._keep_best(plan, outputs, tally, progress, cancel)
        self._check(outputs)
        candidates = tuple(self._encode(plan, out) for out in outputs)
        seconds = time.perf_counter() - started
        log.info(
            "generated %d × %dx%d (%s) in %.2fs, %d tries",
            len(candidates),
            *plan.size,
            params.mode.value,
            seconds,
            tally.rounds,
        )
        withheld = (
            (f"{tally.withheld} of {tally.generated} images were withheld by the model's safety checker",)
            if tally.withheld
            else ()
        )
        warnings = plan.warnings + withheld + notes
        structure = encode_png(plan.control, _structure_note(plan)) if plan.control is not None else None
        return GenerationResult(
            params, candidates, self.model_name, seconds, warnings, tally.rounds, structure
        )

    def _describe(self, request: GenerationRequest) -> GenerationResult:
        """A /describe job: four prompts from the image's captions, for this model's family."""
        started = time.perf_counter()
        params = resolve(request.params, self.defaults)
        check_inputs(params, self.capabilities, image=request.image is not None, mask=False, identity=None)
        prompts = self.suggestions(request.image, detailed=params.describe == DescribeDetail.DETAILED)
        seconds = time.perf_counter() - started
        log.info("described an image in %.2fs", seconds)
        return GenerationResult(params, (), self.model_name, seconds, suggestions=prompts)

    def suggestions(self, image: Any, *, detailed: bool = False) -> tuple[str, ...]:
        """Short, detailed and two variant prompts for the picture at ``image`` (a path or bytes)."""
        assert self.captioner is not None, "check_inputs refuses describing without a caption model"
        return prompts_for(self.captioner, image, self.pipes.family, detailed=detailed)

    def _release(self, exc: BaseException) -> None:
        """After running out of memory: drop the tensors the failed frames still hold (the traceback
        keeps their locals alive), then give cached blocks back, so the next job starts clean."""
        traceback.clear_frames(exc.__traceback__)
        release_memory(self.pipes.device)

    # -- steps 1–4: the plan ----------------------------------------------------------------------
    def plan(self, request: GenerationRequest) -> Plan:
        """Everything a job needs before its first denoising step, checked and prepared."""
        # 1. check inputs; a prompt left out is written from the image once the job is known to run
        params, face = self.checked(request)
        plan_warnings: tuple[str, ...] = ()
        if params.described:
            detailed = self.suggestions(request.image)[1]
            params = resolve(replace(params, prompt=detailed), self.defaults)  # its LoRAs already taken
            plan_warnings = (f"no prompt was given, so the image was described: “{detailed}”",)
        deepest = self.pipes.max_clip_skip
        if params.clip_skip is not None and params.clip_skip > deepest:
            raise InvalidRequest(
                f"clip_skip {params.clip_skip} goes deeper than this model's text encoder: "
                f"choose 1–{deepest} (2 is the usual skip)"
            )
        params, accelerator = self._speed(params)
        plan_warnings += _speed_notes(params, speed_rule(params.speed, None, self.defaults))
        # 2. prepare images
        original = load_image(request.image, what="image") if request.image is not None else None
        plan = self._prepare_images(params, request, original)
        self._attach_structure(plan, original)
        plan.warnings = plan_warnings + plan.warnings
        plan.speed_lora = accelerator[0] if accelerator is not None else None
        # 3. face lock
        plan.face = face
        reference, weight, faceid = self._face_lock(plan, request)
        # 4. encode prompt
        pipes = self.pipes
        plan.loras = self.active_loras.activate(
            pipes.text,
            params.loras,
            pipes.family,
            pipes.cross_width,
            pipes.extra_unets,
            added=(accelerator,) if accelerator is not None else (),
        )
        plan.embeddings = self.active_embeddings.activate(
            pipes.text, (params.prompt, params.negative), pipes.family
        )
        plan.prompt, plan.negative = build_prompts(params)
        plan.conditioning = prompt_arguments(
            plan.pipe,
            plan.prompt,
            plan.negative,
            _clip_skip(params),
            self.empty_prompts.under(self.active_loras.state),
        )
        plan.adapters = self.pipes.ip_adapter_kwargs(
            reference,
            weight,
            guided=params.cfg is not None and params.cfg > 1,
            face=faceid,
            face_weight=params.face.weight if params.face else 0.0,
        )
        return plan

    def _speed(self, params: JobParams) -> tuple[JobParams, tuple[LoraFile, float] | None]:
        """fast and turbo on a model as it is: the family's acceleration LoRA with its weight, and its
        sampler where the job names none. A distilled checkpoint, and quality, add nothing."""
        if self.defaults.distilled_model is not None or params.speed in (None, Speed.QUALITY):
            return params, None
        assert params.speed is not None
        accelerator = accelerator_for(self.accelerators, self.pipes.family, params.speed)
        if params.sampler is None:
            schedule = params.schedule or accelerator.schedule  # resolve leaves Automatic out
            if schedule not in SAMPLER_SCHEDULES[accelerator.sampler]:
                raise InvalidRequest(
                    f"speed {params.speed} samples with {accelerator.sampler} (its LoRA, {accelerator.name}, "
                    f"is distilled for it), which does not take the {schedule} schedule: choose "
                    f"{', '.join(SAMPLER_SCHEDULES[accelerator.sampler])}, or leave the schedule out"
                )
            params = replace(params, sampler=accelerator.sampler, schedule=schedule)
        lora = self._speed_files.get(accelerator)
        if lora is None:
            path = accelerator.local_file(self.offline)
            lora = self.loras.outside(path, accelerator.name)
            self._speed_files[accelerator] = lora
        return params, (lora, accelerator.weight)

    def _prepare_images(
        self, params: JobParams, request: GenerationRequest, original: Image.Image | None
    ) -> Plan:
        native, pipes, mode = self.pipes.native, self.pipes, params.mode
        if mode in (Mode.TEXT, Mode.IMAGE_PROMPT):
            size = size_for_aspect(params.aspect, native, self.pipes.family)
            if params.structure is not None and original is not None:  # the reference sets the shape
                size = fit_to_budget(original, native).size
            return Plan(params, pipes.text, {"width": size[0], "height": size[1]}, size)
        assert original is not None
        strength = {"strength": params.strength}
        if mode is Mode.IMG2IMG:
            source = fit_to_budget(original, native)
            return Plan(params, pipes.img2img, {"image": source, **strength}, source.size)
        if mode is Mode.INPAINT:
            assert request.mask is not None
            source = fit_to_budget(original, native)
            mask = load_mask(request.mask)
            check_mask_shape(mask.size, original.size)
            pair = prepare_inpaint_mask(mask, source.size)
            # The result goes back onto the user's own picture at its resolution (up to MAX_RESULT_SIDE):
            # only the masked region changes, so a large photo does not come back shrunk to the model's size.
            base = limit_side(original)
            blend = pair.blend if base.size == source.size else prepare_inpaint_mask(mask, base.size).blend
            dims = {"width": source.width, "height": source.height}
            inputs = {"image": source, "mask_image": pair.generate, **dims, **strength}
            return Plan(
                params, pipes.inpaint, inputs, source.size, original=base, blend=blend, warnings=pair.warnings
            )
        assert params.expand is not None
        layout = plan_outpaint(original, params.expand, native)
        width, height = layout.canvas.size
        inputs = {
            "image": layout.canvas,
            "mask_image": layout.generate_mask,
            "width": width,
            "height": height,
        }
        inputs.update(strength)
        return Plan(
            params,
            pipes.inpaint,
            inputs,
            (width, height),
            original=layout.result,  # back at the picture's own resolution, its pixels unchanged
            blend=layout.result_blend,
            region=layout.box,
        )

    def _attach_structure(self, plan: Plan, original: Image.Image | None) -> None:
        """Weight 0 attaches nothing, so it runs exactly as a job without structure."""
        params = plan.params
        if params.structure is None or original is None:
            return
        if not params.structure_weight:
            plan.warnings += ("structure weight 0 leaves the composition free: no ControlNet ran",)
            return
        assert self.structure is not None, "check_inputs refuses structure without ControlNets"
        pipes = self.pipes
        source = plan.inputs.get("image")
        if source is None:  # text and image prompt: the attachment is the structure reference only
            source = fit_to_budget(original, pipes.native)
        kind = (
            "inpaint" if plan.pipe is pipes.inpaint else "img2img" if plan.pipe is pipes.img2img else "text"
        )
        attached = self.structure.attach(
            kind, params.structure, params.structure_weight, source, plan.size, plan.region
        )
        plan.pipe, plan.control, plan.control_model = attached.pipe, attached.control, attached.model
        plan.inputs.update(attached.inputs)

    def _face_lock(
        self, plan: Plan, request: GenerationRequest
    ) -> tuple[Image.Image | None, float, np.ndarray | None]:
        """The image prompt and its weight, and the FaceID tokens; sets what candidates are scored
        against. In image_prompt mode the user's image is the image prompt; face lock's fallback
        takes that slot otherwise."""
        params, identity = plan.params, request.identity
        reference, weight = None, params.image_weight
        if params.mode is Mode.IMAGE_PROMPT:
            assert request.image is not None
            reference = _reference_image(request.image, "image")
        if params.face is None or identity is None:
            return reference, weight, None
        rows = decode_identity(identity.embeddings) if identity.embeddings else None
        plan.character = self._scoring_vector(rows)
        if plan.face is FaceRoute.FACEID:
            assert rows is not None
            return reference, weight, faceid_input(rows, params.face.mode)
        assert identity.primary is not None
        plan.warnings += (FALLBACK_WARNING,)
        return _reference_image(identity.primary, "character reference"), params.face.weight, None

    def _scoring_vector(self, rows: np.ndarray | None) -> np.ndarray | None:
        analyzer = self.face_analyzer
        if analyzer is None or rows is None:
            return None
        if int(analyzer.dim) != rows.shape[1]:
            log.warning("identity not scored: analyzer is %d-d, identity %d-d", analyzer.dim, rows.shape[1])
            return None
        return character_vector(rows)

    # -- step 5: denoise ---------------------------------------------------------------------------
    def _denoise(
        self,
        plan: Plan,
        seeds: list[int],
        tally: _Tally,
        progress: ProgressFn | None,
        cancel: CancelFlag | None,
    ) -> list[_Output]:
        """One round: ``seeds`` as one batch, each kept image composited back onto the original."""
        params = plan.params
        # One CPU generator per candidate: candidate k is reproducible alone with seed + k,
        # on any device, because the noise is drawn on the CPU.
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]

        def on_step(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            # Raising here stops at this step and skips the VAE decode of a result nobody wants.
            _stop_if(cancel)
            if progress is not None:
                progress(step + 1, int(pipe.num_timesteps))
            return tensors

        assert params.sampler is not None  # resolve fills it
        scheduler = build_scheduler(self.pipes.scheduler_config, params.sampler, params.schedule, seeds[0])
        encoders_off(self.pipes.memory, plan.pipe)  # LIKENESS_VRAM=low: the card is the UNet's alone
        try:
            skip = plan.conditioning.get("clip_skip")  # the text's: embeddings already read their layer
            with (
                clip_skip_path(plan.pipe, skip),
                using_scheduler(plan.pipe, scheduler),
                cached_steps(plan.pipe, self.step_cache),
            ):
                output = plan.pipe(
                    **plan.conditioning,
                    num_inference_steps=params.steps,
                    guidance_scale=params.cfg,
                    num_images_per_prompt=len(seeds),
                    generator=generators,
                    callback_on_step_end=on_step,
                    output_type="pil",
                    **plan.inputs,
                    **plan.adapters,
                )
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            self._release(exc)
            raise OutOfMemory(
                f"the {self.pipes.device.type} ran out of memory for {len(seeds)} candidate(s) at "
                f"{plan.size[0]}×{plan.size[1]}: try fewer candidates"
            ) from exc
        flags = getattr(output, "nsfw_content_detected", None) or [False] * len(output.images)
        outputs = [
            _Output(_onto_original(plan, image), seed)
            for image, seed, flagged in zip(output.images, seeds, flags, strict=True)
            if not flagged
        ]
        tally.rounds += 1
        tally.generated += len(seeds)
        tally.withheld += len(seeds) - len(outputs)
        return outputs

    # -- step 6: keep the best ---------------------------------------------------------------------
    def _keep_best(
        self,
        plan: Plan,
        outputs: list[_Output],
        tally: _Tally,
        progress: ProgressFn | None,
        cancel: CancelFlag | None,
    ) -> tuple[list[_Output], tuple[str, ...]]:
        """Score every face; remake the ones below ``min_identity`` with fresh seeds while tries are
        left; the best ``candidates`` first, and notes on what stayed unscored or below."""
        params, face = plan.params, plan.params.face
        assert face is not None and face.max_tries is not None and params.seed is not None
        want, floor = params.candidates, face.min_identity
        pool = self._scored(plan, outputs)

        def passes(out: _Output) -> bool:
            return floor is None or (out.score is not None and out.score >= floor)

        while floor is not None and tally.rounds < face.max_tries:
            failing = want - sum(1 for out in _best(pool, want) if passes(out))
            if failing <= 0:
                break
            _stop_if(cancel)
            base = params.seed + want * tally.rounds  # fresh seeds: never one already tried
            pool += self._scored(plan, self._denoise(plan, _seeds(base, failing), tally, progress, cancel))
        kept = _best(pool, want)
        notes = [
            f"no face found in candidate with seed {out.seed}: its likeness could not be scored"
            for out in kept
            if out.score is None
        ]
        below = [out.score for out in kept if out.score is not None and not passes(out)]
        if floor is not None and below:
            notes.append(
                f"{len(below)} of {len(kept)} candidate(s) stayed below min_identity {floor:g} after "
                f"{tally.rounds} tries (best {max(below):.2f})"
            )
        return kept, tuple(notes)

    def _scored(self, plan: Plan, outputs: list[_Output]) -> list[_Output]:
        assert self.face_analyzer is not None and plan.character is not None
        scores = score_candidates(self.face_analyzer, [o.image for o in outputs], plan.character)
        for out, value in zip(outputs, scores, strict=True):
            out.score = value
        return outputs

    # -- step 7: check -----------------------------------------------------------------------------
    def _check(self, outputs: list[_Output]) -> None:
        """The NSFW score of every kept output, one batch; where it may be shown is the bot's call."""
        if self.nsfw is None or not outputs:
            return
        started = time.perf_counter()
        for out, value in zip(outputs, self.nsfw.scores([o.image for o in outputs]), strict=True):
            out.nsfw = value
        log.debug("NSFW check of %d image(s) in %.2fs", len(outputs), time.perf_counter() - started)

    # -- step 8: encode ----------------------------------------------------------------------------
    def _encode(self, plan: Plan, out: _Output, more: dict[str, str] | None = None) -> Candidate:
        params, extra = plan.params, dict(more or {})
        if plan.face is not None and params.face is not None:
            extra["Face lock"] = plan.face.value
            extra["Identity weight"] = f"{params.face.weight:g}"
            if plan.face is FaceRoute.FACEID:
                extra["Identity mode"] = params.face.mode
        if plan.character is not None:
            extra["Identity"] = "no face" if out.score is None else f"{out.score:.2f}"
        if plan.control_model is not None:
            extra["Structure model"] = plan.control_model
        if self.step_cache.on:  # it changes the pixels: a reproduction needs it too
            extra["Step cache"] = self.step_cache.value
        vae = self.pipes.vae
        if vae is not None:
            extra["VAE"] = vae.name
            if vae.hash is not None:
                extra["VAE hash"] = vae.hash
        loras = {lora.name: self.loras.short_hash(lora) for lora in plan.loras}
        if plan.speed_lora is not None:  # credited as every LoRA that ran is (its tag is not the prompt's)
            extra["Speed LoRA"] = plan.speed_lora.name
            loras[plan.speed_lora.name] = self.loras.short_hash(plan.speed_lora)
        if loras:
            extra["Lora hashes"] = ", ".join(f"{name}: {digest}" for name, digest in loras.items())
        embeddings = {e.name: self.embeddings.short_hash(e) for e in plan.embeddings}
        if embeddings:
            extra["TI hashes"] = ", ".join(f"{name}: {digest}" for name, digest in embeddings.items())
        image = out.image
        parameters = format_parameters(
            params,
            seed=out.seed,
            size=image.size,
            model=self.model_name,
            model_hash=self.model_hash,
            extra=extra,
            hashes={
                **{f"embed:{name}": digest for name, digest in embeddings.items()},
                **{f"lora:{name}": digest for name, digest in loras.items()},
            },
        )
        return Candidate(
            encode_png(image, parameters),
            out.seed,
            image.width,
            image.height,
            parameters,
            out.score,
            out.nsfw,
        )


def _speed_notes(params: JobParams, rule: SpeedRule | None) -> tuple[str, ...]:
    """What a few-step speed changed of the job, said once: the steps raised for a low strength,
    and a negative prompt that CFG 1 does not read."""
    notes = []
    strength = params.strength if params.mode.uses_strength else None
    if rule is not None and strength and params.steps == max(rule.steps + 1, math.ceil(1 / strength - 1e-9)):
        notes.append(
            f"{rule.steps} steps at strength {params.strength:g} would run no denoising step, "
            f"so {params.steps} steps ran (strength × steps is at least one)"
        )
    if params.cfg is not None and params.cfg <= 1 and params.negative.strip():
        notes.append(f"CFG {params.cfg:g} runs without guidance, so the negative prompt was not read")
    return tuple(notes)


def _onto_original(plan: Plan, image: Image.Image) -> Image.Image:
    """Inpaint and outpaint change only their region: blend the result onto the original's pixels."""
    if plan.original is None or plan.blend is None:
        return image
    if image.size != plan.original.size:
        image = image.resize(plan.original.size, Image.Resampling.LANCZOS)
    return composite(plan.original, image, plan.blend)


def _structure_note(plan: Plan) -> str:
    """The structure map's own ``parameters`` chunk: what made it and what read it."""
    params = plan.params
    return f"Structure: {params.structure}, Structure weight: {params.structure_weight:g}, " + (
        f"Structure model: {plan.control_model}"
    )


def _reference_image(source: Any, what: str) -> Image.Image:
    image = load_image(source, what=what)
    image.thumbnail((REFERENCE_SIDE, REFERENCE_SIDE))
    return image


def _clip_skip(params: JobParams) -> int | None:
    """diffusers counts the layers skipped, A1111 the layer read: its 2 is diffusers' 1."""
    return params.clip_skip - 1 if params.clip_skip and params.clip_skip > 1 else None


def _best(pool: list[_Output], count: int) -> list[_Output]:
    return sorted(pool, key=lambda o: rank_key(o.score), reverse=True)[:count]


def _stop_if(cancel: CancelFlag | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


# MPS: "MPS backend out of memory"; torch on the CPU: "DefaultCPUAllocator: can't allocate memory";
# onnxruntime (insightface scoring): "CUDA failure 2: out of memory", "Failed to allocate memory".
def _seeds(base: int, count: int) -> list[int]:
    return [(base + k) % (SEED_MAX + 1) for k in range(count)]
