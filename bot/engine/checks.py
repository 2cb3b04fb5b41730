"""The engine's rules for a job's inputs, as diffusers pipelines keep theirs in ``check_inputs``.

One function decides, before any work, whether the inputs fit the mode and what this engine can do,
and how face lock will run. The engine calls it at the start of every job; the bot calls the same
function when a job is submitted, so a job that cannot run is refused at once rather than after
waiting in the queue. ``Capabilities`` is what it needs to know of the engine, known from the
configuration before any weight is loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bot.choices import Speed, Structure
from bot.engine.config import EngineConfig, ModelsConfig
from bot.engine.embeddings import EmbeddingLibrary
from bot.engine.family import Family
from bot.engine.identity import FACEID_DIM, decode_identity
from bot.engine.loras import LoraLibrary
from bot.engine.metadata import public_model_name
from bot.engine.speed import SPEED_SETTINGS
from bot.errors import InvalidRequest, ModelUnavailable
from bot.jobs import Identity
from bot.params import MAX_IDENTITY_REFERENCES, JobParams, Mode


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the engine can do: an image-prompt adapter, FaceID with its embedding size, and the model
    family (None until the model is loaded: a LoRA's family is then checked when the job runs)."""

    image_prompt: bool
    faceid_dim: int | None
    family: Family | None = None
    structures: frozenset[str] = frozenset()  # the structures with a ControlNet configured
    describe: bool = False  # a captioning model is configured (/describe, a prompt left to the image)
    lcm_model: bool = False  # the model is a latent consistency model (its name says LCM)
    native: int | None = None  # the side of the images it makes, in pixels (None: not known until loaded)
    upscale: bool = False  # a super-resolution model is configured (LIKENESS_UPSCALER)
    # (family, speed) pairs with an acceleration LoRA; None: not checked (an engine made without a config)
    speeds: frozenset[tuple[Family, str]] | None = None
    distilled: bool = False  # the checkpoint is itself a few-step model: every speed runs

    @classmethod
    def of(cls, config: EngineConfig) -> Capabilities:
        faceid = FACEID_DIM if config.faceid_adapter is not None else None
        return cls(
            config.ip_adapter is not None,
            faceid,
            structures=config.structures,
            describe=config.caption_model is not None,
            lcm_model=is_lcm(config.model),
            native=config.resolution,
            upscale=config.upscaler is not None,
            speeds=speed_pairs(config),
            distilled=config.distilled is not None,
        )


def speed_pairs(config: EngineConfig) -> frozenset[tuple[Family, str]]:
    """The (family, speed) pairs ``config`` has an acceleration LoRA for."""
    return frozenset((family, speed) for family, speeds in config.accelerators.items() for speed in speeds)


def check_speed(params: JobParams, caps: Capabilities) -> None:
    """fast and turbo need the family's acceleration LoRA (or a distilled checkpoint): refused before
    the job waits in the queue when the family is known to have none (or no family has one)."""
    speed = params.speed
    if speed not in (Speed.FAST, Speed.TURBO) or caps.distilled or caps.speeds is None:
        return
    families = [caps.family] if caps.family is not None else list(Family)
    if not any((family, speed) in caps.speeds for family in families):
        where = caps.family.label if caps.family is not None else "any"
        setting = SPEED_SETTINGS[caps.family] if caps.family is not None else "LIKENESS_SPEED_SD15/_SDXL"
        raise InvalidRequest(
            f"speed {speed} is not set up for {where} models on this bot (the operator sets {setting}): "
            "choose speed quality"
        )


def check_model(models: ModelsConfig, name: str | None) -> str:
    """The model a job runs on, by name; an unknown name, or a model whose local files are gone, is
    refused before the job is queued."""
    name = models.check(name)
    where = models.models[name].model
    if looks_local(where) and not Path(where).expanduser().exists():
        raise ModelUnavailable(
            f"model {name} cannot run: its files are missing ({public_model_name(where)}); "
            f"the operator fixes {models.setting}"
        )
    return name


def model_problems(models: ModelsConfig) -> list[str]:
    """One line per configured model that cannot run as things are (logged at start; its jobs refused)."""
    problems = []
    for name in models.names:
        try:
            check_model(models, name)
        except ModelUnavailable as exc:
            problems.append(str(exc))
    return problems


def looks_local(where: str) -> bool:
    """A path rather than a hub id: absolute, relative with a dot, a weights file, or on disk."""
    text = where.strip()
    return (
        text.startswith(("/", ".", "~", "\\"))
        or re.match(r"[A-Za-z]:[\\/]", text) is not None
        or text.lower().endswith((".safetensors", ".ckpt"))
        or Path(text).expanduser().exists()
    )


def is_lcm(name: str) -> bool:
    """Whether a model or LoRA is named as a latent consistency one (lcm-lora-sdv1-5, LCM_Dreamshaper)."""
    return "lcm" in name.lower()


def check_sampler(params: JobParams, caps: Capabilities) -> None:
    """LCM's few steps need a model distilled for them: an LCM model, an LCM LoRA in the job, or a
    few-step speed (fast, turbo), whose acceleration LoRA is distilled."""
    distilled = caps.lcm_model or params.speed in (Speed.FAST, Speed.TURBO)
    if params.sampler == "LCM" and not distilled and not any(is_lcm(u.name) for u in params.loras):
        raise InvalidRequest(
            "the LCM sampler needs an LCM model or LoRA (such as lcm-lora-sdv1-5, whose name says lcm): "
            "add one, or choose another sampler"
        )


class FaceRoute(StrEnum):
    """How face lock keeps the face (the value is what the PNG's parameters say)."""

    FACEID = "FaceID"  # the character's embeddings as FaceID tokens
    IMAGE_PROMPT = "image prompt"  # fallback: the primary reference as an image prompt


def check_inputs(
    params: JobParams,
    caps: Capabilities,
    *,
    image: bool,
    mask: bool,
    identity: Identity | None,
    loras: LoraLibrary | None = None,
    embeddings: EmbeddingLibrary | None = None,
) -> FaceRoute | None:
    """Raise ``InvalidRequest`` naming the fix when the inputs cannot make this job; else how face
    lock runs (None without face lock). ``loras`` is the LoRA folder the job's LoRAs must be in."""
    mode = params.mode
    if params.describe is not None or params.described:
        check_describe(params, caps, image=image)
        if params.describe is not None:
            return None
    if params.upscale is not None:
        check_upscale(params, caps, image=image, mask=mask)
    if mode.needs_image and not image:
        raise InvalidRequest(f"{mode} needs an image: attach one, or leave out the mode")
    if mode is Mode.TEXT and image and params.structure is None:
        raise InvalidRequest(
            "an image was given without a mode that uses it: choose img2img, "
            "image_prompt, inpaint or outpaint, or a structure to keep its composition"
        )
    check_sampler(params, caps)
    check_speed(params, caps)
    if params.structure is not None:
        check_structure(params.structure, caps, image=image)
    if mode is Mode.INPAINT and not mask:
        raise InvalidRequest("inpaint needs a mask: white where the image should change, black elsewhere")
    if mode is not Mode.INPAINT and mask:
        raise InvalidRequest("a mask is only used by inpaint: choose mode inpaint or drop the mask")
    if mode is Mode.IMAGE_PROMPT and not caps.image_prompt:
        raise InvalidRequest(
            "image_prompt is disabled on this bot (no IP-Adapter configured); use img2img instead"
        )
    if params.loras:
        if loras is None or not loras.enabled:
            raise InvalidRequest("LoRAs are not set up on this bot (the operator sets LIKENESS_LORA_DIR)")
        loras.check(params.loras, caps.family)
    if embeddings is not None:
        embeddings.check((params.prompt, params.negative), caps.family)
    return face_route(params, caps, identity)


UPSCALE_OFF = "upscaling is off on this bot (the operator sets LIKENESS_UPSCALER)"


def check_upscale(params: JobParams, caps: Capabilities, *, image: bool, mask: bool) -> None:
    if not caps.upscale:
        raise InvalidRequest(UPSCALE_OFF)
    if not image:
        raise InvalidRequest("upscale needs an image: attach the picture to enlarge")
    if mask or params.structure is not None:
        raise InvalidRequest("an upscale takes no mask or structure: enlarge the picture alone")


DESCRIBE_OFF = "describing images is off on this bot (the operator sets LIKENESS_CAPTION_MODEL)"


def check_describe(params: JobParams, caps: Capabilities, *, image: bool) -> None:
    if params.describe is not None and not image:
        raise InvalidRequest("describe needs an image: attach the picture to write prompts for")
    if not caps.describe:
        if params.describe is not None:
            raise InvalidRequest(DESCRIBE_OFF)
        raise InvalidRequest(f"give a prompt: it cannot be written from the image, {DESCRIBE_OFF}")


def check_structure(structure: str, caps: Capabilities, *, image: bool) -> None:
    if not image:
        raise InvalidRequest(
            f"structure {structure} keeps the composition of an image: attach the picture to follow"
        )
    if structure not in caps.structures:
        setting = f"LIKENESS_CONTROLNET_{structure.upper()}"
        if structure == Structure.DEPTH:
            setting += " and LIKENESS_DEPTH_MODEL"
        offered = f" (this bot offers {', '.join(sorted(caps.structures))})" if caps.structures else ""
        raise InvalidRequest(
            f"structure {structure} is not set up on this bot{offered}: the operator sets {setting}"
        )


def face_route(params: JobParams, caps: Capabilities, identity: Identity | None) -> FaceRoute | None:
    """FaceID when the character's embeddings fit this engine's FaceID, else the primary reference
    as an image prompt, else ``InvalidRequest`` saying why face lock cannot run."""
    if params.face is None:
        return None
    if identity is None or (not identity.embeddings and identity.primary is None):
        raise InvalidRequest(
            "face lock needs the character's reference images: "
            "add a clear photo of the face with /character add"
        )
    if len(identity.embeddings) > MAX_IDENTITY_REFERENCES:
        raise InvalidRequest(
            f"{len(identity.embeddings)} identity embeddings given; the limit is {MAX_IDENTITY_REFERENCES}"
        )
    rows = decode_identity(identity.embeddings) if identity.embeddings else None
    if caps.faceid_dim is not None and rows is not None and rows.shape[1] == caps.faceid_dim:
        return FaceRoute.FACEID
    if caps.faceid_dim is None:
        why = "this bot has no IP-Adapter FaceID loaded (LIKENESS_FACEID_ADAPTER)"
    elif rows is None:
        why = "the character has no face embeddings"
    else:
        why = (
            f"the character's face embeddings are {rows.shape[1]}-d but FaceID needs {caps.faceid_dim}-d "
            "insightface embeddings (LIKENESS_FACE_BACKEND=insightface, then recompute the faces)"
        )
    if identity.primary is None:
        raise InvalidRequest(f"face lock is unavailable: {why}, and no primary reference image was given")
    if not caps.image_prompt:
        raise InvalidRequest(f"face lock is unavailable: {why}, and there is no IP-Adapter to fall back on")
    if params.mode is Mode.IMAGE_PROMPT:
        raise InvalidRequest(
            f"face lock cannot be combined with image_prompt on this bot: {why}, so face lock would use "
            "the character's primary image as the image prompt, and yours takes that place. "
            "Use img2img, or leave out the character"
        )
    return FaceRoute.IMAGE_PROMPT
