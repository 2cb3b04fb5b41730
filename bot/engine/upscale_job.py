"""An upscale job on an engine: the super-resolution pass, then (with a strength) the detail pass.

1. check        the params' rules, the engine's ``check_inputs`` (an upscaler configured, an image)
2. enlarge      the upscaler over padded tiles (``bot.engine.upscaler``), one progress step a tile
3. detail       with a strength: img2img over overlapping tiles at the model's native size, with the
                job's prompt, model, LoRAs and face lock (the engine's own plan), blended at the seams
4. score        a face-locked job's face against its character, so the result shows its identity
5. encode       A1111's parameters: a plain upscale keeps its source's and adds ``Postprocess upscale
                by`` and ``Postprocess upscaler`` (as A1111's Extras tab does); a detail upscale
                writes its own, with ``Denoising strength`` and ``SD upscale upscaler``

The detail pass runs one tile at a time, so its memory is that of one native-size img2img.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from bot.engine.identity import decode_identity
from bot.engine.images import load_image
from bot.engine.metadata import HASHES, PARAMETERS_KEY, encode_png, format_parameters
from bot.engine.tiles import Blender, tile_boxes
from bot.errors import Cancelled
from bot.jobs import Candidate, GenerationRequest, GenerationResult
from bot.params import JobParams

if TYPE_CHECKING:
    from bot.engine.engine import CancelFlag, Engine, ProgressFn

log = logging.getLogger(__name__)

DETAIL_OVERLAP = 4  # tiles of the detail pass overlap by a quarter of the model's native size


def run_upscale(
    engine: Engine, request: GenerationRequest, progress: ProgressFn | None, cancel: CancelFlag | None
) -> GenerationResult:
    # The engine's own records: an upscale's output is scored, checked and encoded as a generation's.
    from bot.engine.engine import _Output, _Tally

    started = time.perf_counter()
    params, _ = engine.checked(request)  # the detail pass reads the model's clip skip too
    upscaler, factor, seed = engine.upscaler, params.upscale, params.seed
    assert upscaler is not None and factor is not None and seed is not None and request.image is not None
    source = load_image(request.image, what="image")
    target = (round(source.width * factor), round(source.height * factor))
    native = engine.native
    overlap = native // DETAIL_OVERLAP
    boxes = [] if params.plain_upscale else list(tile_boxes(target, native, overlap))
    total = upscaler.tiles(source.size, factor) + len(boxes)

    def tick(done: int, _: int) -> None:
        if progress is not None:
            progress(done, total)

    stop = cancel.is_set if cancel is not None else None
    enlarged = upscaler.upscale(source, factor, progress=tick, stop=stop)
    done = total - len(boxes)
    warnings: tuple[str, ...] = ()
    if params.plain_upscale:
        out = _Output(enlarged, seed)
        character = _character(engine, request)
        if character is not None and engine.face_analyzer is not None:
            from bot.engine.identity import score_candidates

            [out.score] = score_candidates(engine.face_analyzer, [enlarged], character)
        engine._check([out])
        parameters = plain_parameters(request.image, params, enlarged.size, engine.model_name, upscaler.name)
        png = encode_png(enlarged, parameters)
        candidate = Candidate(png, seed, *enlarged.size, parameters, out.score, out.nsfw)
    else:
        plan = engine.plan(request)
        params, warnings = plan.params, plan.warnings
        blender = Blender(target, overlap)
        kept = 0
        for box in boxes:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            tile = enlarged.crop(box)
            plan.inputs = {"image": tile, "strength": params.strength}
            outputs = engine._denoise(plan, [seed], _Tally(), None, cancel)
            redrawn = outputs[0].image if outputs else tile  # withheld by the safety checker: SR alone
            kept += bool(outputs)
            if redrawn.size != tile.size:
                redrawn = redrawn.resize(tile.size, Image.Resampling.LANCZOS)
            blender.add(redrawn, box)
            done += 1
            tick(done, total)
        if kept < len(boxes):
            withheld = len(boxes) - kept
            warnings += (f"{withheld} of {len(boxes)} detail tiles were withheld by the safety checker",)
        out = _Output(blender.image(), seed)
        if plan.character is not None:
            engine._scored(plan, [out])
        engine._check([out])
        extra = {"SD upscale overlap": str(overlap), "SD upscale upscaler": upscaler.name}
        candidate = engine._encode(plan, out, extra)
    seconds = time.perf_counter() - started
    log.info("upscaled %dx%d by %g to %dx%d in %.2fs", *source.size, factor, *target, seconds)
    return GenerationResult(params, (candidate,), engine.model_name, seconds, warnings)


def _character(engine: Engine, request: GenerationRequest) -> np.ndarray | None:
    """What a plain upscale's face is scored against (None: not face-locked, or unscored)."""
    identity = request.identity
    if request.params.face is None or identity is None or not identity.embeddings:
        return None
    return engine._scoring_vector(decode_identity(identity.embeddings))


def plain_parameters(image: Path, params: JobParams, size: tuple[int, int], model: str, upscaler: str) -> str:
    """A plain upscale's ``parameters``: the source's own with the upscale's added (before the
    resources' JSON, which PNG readers expect last); a source without them (a cleaned upload) gets
    the job's, or only the upscale's when the job has no prompt."""
    assert params.upscale is not None
    extra = {"Postprocess upscaler": upscaler}
    added = {"Postprocess upscale by": f"{params.upscale:g}", **extra}
    with Image.open(image) as picture:
        text = getattr(picture, "text", {}).get(PARAMETERS_KEY)
    if not text or text.count("\n") < 2:
        if not params.prompt:
            settings = ", ".join(f"{k}: {v}" for k, v in {"Size": f"{size[0]}x{size[1]}", **added}.items())
            return f"\nNegative prompt: {params.negative}\n{settings}"
        return format_parameters(params, seed=params.seed or 0, size=size, model=model, extra=extra)
    head, _, settings = text.rpartition("\n")
    settings, marker, resources = settings.partition(f", {HASHES}: ")
    settings += "".join(f", {key}: {value}" for key, value in added.items())
    return f"{head}\n{settings}" + (f"{marker}{resources}" if marker else "")
