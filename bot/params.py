"""The parameters of one job, in one frozen record: what the user asked for, before any file.

Every entry point parses its own input into a ``JobParams`` (the slash command, the command line,
later the HTTP API); ``resolve`` applies the rules and fills in the defaults; the queue stores the
record as columns of ``jobs`` (``PARAMS_CODEC``: field ``x`` is column ``x``, face lock's ``face.x``
is ``face_x``); the engine reads it. Each field declares its rule beside it (range or choices, the
modes that use it, how it is named in messages, Info and the PNG's parameters), so a new option is
one field here, one migration adding its column, one Discord option and one CLI flag.

Pure data: nothing here knows Discord, the database or torch; the choices (aspect buckets, outpaint
targets, style presets) are the engine's own lists.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from bot.choices import (
    ASPECT_RATIOS,
    AUTOMATIC,
    DEFAULT_SAMPLER,
    DESCRIBE_DETAILS,
    IDENTITY_MODES,
    OUTPAINT_TARGETS,
    SAMPLER_SCHEDULES,
    SAMPLERS,
    SCHEDULES,
    SPEEDS,
    STRUCTURES,
    STYLE_NAMES,
    IdentityMode,
    Speed,
)
from bot.errors import InvalidRequest
from bot.prompt_syntax import parse
from bot.rules import Rule


class Mode(StrEnum):
    """How a job uses its picture; in the order entry points offer them."""

    IMG2IMG = "img2img"
    IMAGE_PROMPT = "image_prompt"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"
    TEXT = "text"

    @property
    def needs_image(self) -> bool:
        return self is not Mode.TEXT

    @property
    def uses_strength(self) -> bool:
        return self in STRENGTH_MODES


STRENGTH_MODES = frozenset({Mode.IMG2IMG, Mode.INPAINT, Mode.OUTPAINT})

# Limits shared by the command line, the slash commands (min/max values) and the engine.
MAX_PROMPT_CHARS = 1000
STEPS_RANGE = (1, 100)
CFG_RANGE = (0.0, 20.0)
STRENGTH_RANGE = (0.0, 1.0)
IMAGE_WEIGHT_RANGE = (0.0, 1.5)
IDENTITY_WEIGHT_RANGE = (0.0, 1.5)
MIN_IDENTITY_RANGE = (0.0, 1.0)
MAX_TRIES_RANGE = (1, 10)
CANDIDATES_RANGE = (1, 4)
SEED_MAX = 2**32 - 1
MAX_IDENTITY_REFERENCES = 32

DEFAULT_STEPS = 30
DEFAULT_CFG = 7.0
DEFAULT_IMAGE_WEIGHT = 0.6
DEFAULT_IDENTITY_WEIGHT = 0.8
DEFAULT_MAX_TRIES = 3
# Identity first: low strength keeps the face; inpaint/outpaint must be free to change their region.
DEFAULT_STRENGTH = {Mode.IMG2IMG: 0.35, Mode.INPAINT: 0.85, Mode.OUTPAINT: 0.95}
DEFAULT_EXPAND = "all"
DEFAULT_ASPECT = "1:1"
STRUCTURE_WEIGHT_RANGE = (0.0, 2.0)
UPSCALE_RANGE = (1.5, 4.0)  # a factor of the picture's sides; LIKENESS_MAX_OUTPUT_MP bounds the result
DEFAULT_STRUCTURE_WEIGHT = 1.0  # diffusers' and A1111's ControlNet default
MAX_LORAS = 3
LORA_WEIGHT_RANGE = (-2.0, 2.0)
DEFAULT_LORA_WEIGHT = 1.0
DEFAULT_SPEED = Speed.QUALITY.value


@dataclass(frozen=True, slots=True)
class SpeedRule:
    """How a few-step speed (or a distilled checkpoint) runs a job: the steps and CFG a job that
    gives none takes, and the most it may give; beyond them a distilled model only burns or blurs
    the image. ``sampler`` None leaves the sampler to the acceleration LoRA (the engine's, by the
    model's family); a distilled checkpoint names its own."""

    steps: int
    cfg: float
    max_steps: int
    max_cfg: float
    sampler: str | None = None
    schedule: str | None = None
    what: str = "its acceleration LoRA"  # how messages name what the rule comes from


# fast: about 8 UNet evaluations a step pair (CFG 1.5 keeps the negative prompt, at two a step);
# turbo: 4 steps with CFG off. The public LoRAs are made for these counts (LCM-LoRA 2–8 steps,
# SDXL-Lightning's and Hyper-SD's 8- and 4-step files, CFG 1–2 at most).
SPEED_RULES: Mapping[str, SpeedRule] = {
    Speed.FAST: SpeedRule(steps=8, cfg=1.5, max_steps=12, max_cfg=3.0),
    Speed.TURBO: SpeedRule(steps=4, cfg=1.0, max_steps=8, max_cfg=2.0),
}
# A1111's prompt syntax: <lora:NAME> or <lora:NAME:WEIGHT> (a third, text-encoder part is ignored).
_LORA_TAG = re.compile(r"<lora:([^:<>]+)(?::([^:<>]*))?(?::[^<>]*)?>", re.IGNORECASE)


_AS_DECLARED: Any = object()


def _param(rule: Rule, default: Any = _AS_DECLARED) -> Any:
    """A field declared by its rule: the field's default is the option's, unless the record holds
    the value in another shape (``loras`` is a tuple, the ``lora`` option a comma list)."""
    return field(default=rule.default if default is _AS_DECLARED else default, metadata={"rule": rule})


@dataclass(frozen=True, slots=True)
class LoraUse:
    """One LoRA of a job: its name in the LoRA folder (without ``.safetensors``) and its weight."""

    name: str
    weight: float = DEFAULT_LORA_WEIGHT

    def __str__(self) -> str:
        return f"{self.name}:{self.weight:g}"

    @property
    def tag(self) -> str:
        """A1111's prompt form, as results record it."""
        return f"<lora:{self.name}:{self.weight:g}>"


def parse_loras(text: str | None, weight: float = DEFAULT_LORA_WEIGHT) -> tuple[LoraUse, ...]:
    """``"anime:0.8, film"`` as LoRAs; a name without a weight gets ``weight``."""
    uses = []
    for part in (text or "").replace(";", ",").split(","):
        name, _, given = part.strip().partition(":")
        if name.strip():
            uses.append(LoraUse(name.strip(), _lora_weight(given, name.strip(), weight)))
    return tuple(uses)


def take_lora_tags(prompt: str) -> tuple[str, tuple[LoraUse, ...]]:
    """The prompt without its ``<lora:NAME:WEIGHT>`` tags (what the text encoder reads), and the tags."""
    uses = tuple(
        LoraUse(m.group(1).strip(), _lora_weight(m.group(2) or "", m.group(1).strip(), DEFAULT_LORA_WEIGHT))
        for m in _LORA_TAG.finditer(prompt)
    )
    text = _LORA_TAG.sub(" ", prompt)
    if uses:  # tidy what the tags leave behind: double spaces, empty list items
        text = re.sub(r"\s*,(\s*,)+", ",", re.sub(r"[ \t]+", " ", text)).strip().strip(",")
    return text.strip(), uses


def _lora_weight(given: str, name: str, default: float) -> float:
    if not given.strip():
        return default
    try:
        return float(given)
    except ValueError:
        raise InvalidRequest(
            f"the weight of the LoRA “{name}” is “{given.strip()}”, not a number (like 0.8)"
        ) from None


@dataclass(frozen=True, slots=True)
class FaceLock:
    """Keep a character's face: how strongly, and how hard to try. Present exactly when the job was
    made for a character; which character is the job's own business (``jobs.character_id``)."""

    weight: float = _param(
        Rule(
            "character_weight",
            "Face lock strength",
            "Identity weight",
            IDENTITY_WEIGHT_RANGE,
            default=DEFAULT_IDENTITY_WEIGHT,
            hint=": 0.6–1 suits most",
        )
    )
    mode: str = _param(
        Rule(
            "identity_mode",
            "Face lock: all references together, or their mean",
            "Identity mode",
            choices=IDENTITY_MODES,
            labels={IdentityMode.ALL: "all references", IdentityMode.MEAN: "mean of the references"},
            default=IdentityMode.ALL.value,
        )
    )
    min_identity: float | None = _param(
        Rule(
            "min_identity",
            "Face lock: remake candidates whose face scores below this, a few tries at most",
            "Min identity",
            MIN_IDENTITY_RANGE,
            hint=": 0.4–0.6 is typical",
        )
    )
    max_tries: int | None = _param(
        Rule(
            "max_tries",
            "Face lock: how many tries min_identity may use in all; the server's budget when left out",
            "Max tries",
            MAX_TRIES_RANGE,
            whole=True,
        )
    )


@dataclass(frozen=True, slots=True)
class JobParams:
    """One job's parameters. ``None`` means "the default": the mode's, the server's or a random seed;
    ``resolve`` fills them in, so a stored job says exactly what ran. Each field's ``Rule`` is the
    option every entry point offers (``bot.options``)."""

    prompt: str = field(
        metadata={
            "rule": Rule(
                "prompt",
                "What to make, or how to change the image; left out with an image, written from the image",
                length=(1, MAX_PROMPT_CHARS),
                default="",
                listed=False,
            )
        }
    )
    negative: str = _param(
        Rule("negative", "What to avoid", length=(0, MAX_PROMPT_CHARS), default="", listed=False)
    )
    mode: Mode = _param(
        Rule(
            "mode",
            "How the image is used; img2img when an image is given, else a new image",
            choices=tuple(m.value for m in Mode),
            labels={
                Mode.IMG2IMG: "img2img: transform the image",
                Mode.IMAGE_PROMPT: "image prompt: the image as art direction",
                Mode.INPAINT: "inpaint: repaint the mask's white area",
                Mode.OUTPAINT: "outpaint: extend the canvas",
                Mode.TEXT: "new image: the image as structure only",
            },
            listed=False,
        ),
        Mode.TEXT,
    )
    steps: int | None = _param(
        Rule("steps", "Denoising steps; the server's default when left out", "Steps", STEPS_RANGE, whole=True)
    )
    cfg: float | None = _param(
        Rule(
            "cfg",
            "How hard the prompt pushes; 7 when left out, the speed's own in fast and turbo",
            "CFG scale",
            CFG_RANGE,
            hint=": 5–8 suits most prompts (1–2 in fast and turbo)",
        )
    )
    seed: int | None = _param(
        Rule(
            "seed",
            "Same seed and settings give the same image; random when left out",
            "Seed",
            (0, SEED_MAX),
            whole=True,
            summary=False,
        )
    )
    candidates: int = _param(
        Rule(
            "candidates",
            "How many images to make at once",
            None,
            CANDIDATES_RANGE,
            whole=True,
            default=1,
            summary=False,
        )
    )
    strength: float | None = _param(
        Rule(
            "strength",
            "Loyalty to the image: 0.2–0.4 keeps a face, 0.7–0.9 transforms",
            "Denoising strength",
            STRENGTH_RANGE,
            modes=STRENGTH_MODES,
            mode_defaults=DEFAULT_STRENGTH,
            hint=": 0.2–0.4 keeps a face, 0.7–0.9 transforms",
        )
    )
    image_weight: float = _param(
        Rule(
            "image_weight",
            "Image prompt influence",
            "Image weight",
            IMAGE_WEIGHT_RANGE,
            default=DEFAULT_IMAGE_WEIGHT,
            modes=frozenset({Mode.IMAGE_PROMPT}),
        )
    )
    expand: str | None = _param(
        Rule(
            "expand",
            "Outpaint: a target ratio, a direction or a zoom out; all when left out",
            "Expand",
            choices=OUTPAINT_TARGETS,
            labels={"zoom1.5": "zoom out 1.5×", "zoom2": "zoom out 2×"},
            modes=frozenset({Mode.OUTPAINT}),
            mode_defaults={Mode.OUTPAINT: DEFAULT_EXPAND},
        )
    )
    aspect: str = _param(
        Rule(
            "aspect",
            "Shape of a new image, without a source image",
            "Aspect",
            choices=ASPECT_RATIOS,
            default=DEFAULT_ASPECT,
            modes=frozenset({Mode.TEXT, Mode.IMAGE_PROMPT}),
        )
    )
    # The presets' names, and the server's own styles (``Defaults.styles``): checked by ``resolve``.
    style: str | None = _param(
        Rule("style", "A style preset, or one of this server's styles", "Style", length=(1, 50))
    )
    loras: tuple[LoraUse, ...] = _param(  # the PNG names them in A1111's form
        Rule(
            "lora",
            "Style LoRAs, up to three: “anime” or “anime:0.8, film” (or <lora:NAME:W> in the prompt)",
            None,
            length=(1, 200),
            many=True,
        ),
        (),
    )
    # Keep the attachment's composition through a ControlNet, in every mode; in text mode the
    # attachment is the structure reference only. The weight is filled in when a structure is given.
    structure: str | None = _param(
        Rule(
            "structure",
            "Keep the image's composition: its edges (canny) or its depth, in any mode",
            "Structure",
            choices=STRUCTURES,
            labels={"canny": "canny: the outlines", "depth": "depth: near and far"},
        )
    )
    structure_weight: float | None = _param(
        Rule(
            "structure_weight",
            "How strictly the structure is kept; 1 when left out",
            "Structure weight",
            STRUCTURE_WEIGHT_RANGE,
            hint=": 0.5–1 keeps the layout and leaves room to change it",
        )
    )
    # A1111's count: 1 reads the text encoder's last layer (the model's own way), 2 the one before.
    clip_skip: int | None = _param(
        Rule(
            "clip_skip",
            "Read the prompt from an earlier text encoder layer, as A1111 counts: 2 suits anime models",
            "Clip skip",
            (1, 12),
            whole=True,
        )
    )
    # By A1111's names; the server's default sampler, and the sampler's own schedule, when left out.
    sampler: str | None = _param(
        Rule(
            "sampler",
            "The sampling method, by its A1111 name; the server's default when left out",
            "Sampler",
            choices=SAMPLERS,
        )
    )
    schedule: str | None = _param(
        Rule(
            "schedule",
            "How the noise levels are spaced (A1111's schedule type); the sampler's own when left out",
            "Schedule type",
            choices=SCHEDULES,
        )
    )
    # The checkpoint by its LIKENESS_MODELS name; the server's default model when left out. The engine
    # writes it as the PNG's Model itself (with its hash), so it has no PNG key of its own here.
    model: str | None = _param(
        Rule(
            "model",
            "The checkpoint, by the name /models lists; the server's default when left out",
            None,
            length=(1, 64),
        )
    )
    # Fewer UNet evaluations through a few-step acceleration LoRA (``SPEED_RULES``); the server's
    # default speed (LIKENESS_DEFAULT_SPEED) when left out.
    speed: str | None = _param(
        Rule(
            "speed",
            "quality, or few steps through an acceleration LoRA: fast (8), turbo (4); "
            "the server's when left out",
            "Speed",
            choices=SPEEDS,
            labels={
                Speed.QUALITY: "quality: the model's own steps",
                Speed.FAST: "fast: about 8 steps",
                Speed.TURBO: "turbo: about 4 steps, no negative prompt",
            },
        )
    )
    # A /describe job: the image's captions as four prompts, no images made (None: a generation).
    describe: str | None = _param(
        Rule(
            "describe",
            "Write four prompts from the image instead of making images",
            None,
            choices=DESCRIBE_DETAILS,
            summary=False,
        )
    )
    # An upscale job: the picture made this many times larger by the super-resolution model; with a
    # strength, its detail redrawn over tiles at that strength (``bot.engine.upscale_job``).
    upscale: float | None = _param(
        Rule(
            "upscale",
            "Make the image this many times larger (super-resolution); with strength, redraw its detail",
            "Postprocess upscale by",
            UPSCALE_RANGE,
            modes=frozenset({Mode.IMG2IMG}),
            hint=": 2 doubles each side",
        )
    )
    face: FaceLock | None = None

    @property
    def plain_upscale(self) -> bool:
        """Super-resolution alone: no prompt is read and nothing is denoised."""
        return self.upscale is not None and self.strength is None

    @property
    def described(self) -> bool:
        """The prompt is left to the image's description: an image comes with the job, and no
        prompt (LoRA tags aside) was given."""
        return (
            self.describe is None
            and not self.plain_upscale
            and (self.mode.needs_image or self.structure is not None)
            and not (take_lora_tags(self.prompt)[0])
        )

    def with_seed(self, seed: int | None) -> JobParams:
        return replace(self, seed=seed)


@dataclass(frozen=True, slots=True)
class Defaults:
    """What the server fills in where a job leaves a value out, and its retry budget
    (``LIKENESS_DEFAULT_STEPS``, ``LIKENESS_MIN_IDENTITY``, ``LIKENESS_MAX_TRIES``).

    ``tries_budget`` caps what a job may ask for; None (the engine's own defaults) caps nothing but
    the range, so a job the server accepted is never refused when it runs."""

    steps: int = DEFAULT_STEPS
    min_identity: float | None = None
    max_tries: int = DEFAULT_MAX_TRIES
    tries_budget: int | None = None
    # The operator's styles (``LIKENESS_STYLE_LORAS``): a name and the LoRAs it adds. A preset's name
    # adds its LoRAs to its prompt template; a new name is LoRAs alone.
    styles: Mapping[str, tuple[LoraUse, ...]] = field(default_factory=dict)
    sampler: str = DEFAULT_SAMPLER  # LIKENESS_DEFAULT_SAMPLER
    model: str | None = None  # LIKENESS_DEFAULT_MODEL (None: the engine's own)
    clip_skips: Mapping[str, int] = field(default_factory=dict)  # each model's own default clip skip
    speed: str = DEFAULT_SPEED  # LIKENESS_DEFAULT_SPEED
    # The checkpoints distilled for few steps themselves (a Turbo or Lightning model), by model name:
    # their rule holds in every speed, and no acceleration LoRA is added to them.
    distilled: Mapping[str, SpeedRule] = field(default_factory=dict)
    distilled_model: SpeedRule | None = None  # an engine's own checkpoint's, when it is distilled
    # A community server's own defaults (``bot.guilds``): the style and negative a job that gives
    # none takes.
    style: str | None = None
    negative: str = ""

    @property
    def style_names(self) -> tuple[str, ...]:
        return STYLE_NAMES + tuple(name for name in self.styles if name not in STYLE_NAMES)


def rules(record: type[Any]) -> Iterator[tuple[str, Rule]]:
    """``(field name, rule)`` for each field of ``record`` that declares one, in field order."""
    for f in fields(record):
        rule = f.metadata.get("rule")
        if rule is not None:
            yield f.name, rule


def face_lock(
    character: str | None,
    *,
    weight: float = DEFAULT_IDENTITY_WEIGHT,
    mode: str | None = None,
    min_identity: float | None = None,
    max_tries: int | None = None,
) -> FaceLock | None:
    """The face lock for a job made for ``character`` (None without one); the scoring options only
    mean something with a character, so they are refused without one."""
    if character is None:
        if min_identity is not None or max_tries is not None:
            raise InvalidRequest(
                "min_identity and max_tries score faces against a character: choose a character"
            )
        return None
    return FaceLock(
        weight=weight, mode=mode or IdentityMode.ALL.value, min_identity=min_identity, max_tries=max_tries
    )


def default_mode(*, image: bool, describe: bool = False) -> Mode:
    """The mode of a job that names none: img2img when it comes with an image or describes one
    (a describe job reads its image as img2img's source), a new image otherwise."""
    return Mode.IMG2IMG if image or describe else Mode.TEXT


def resolve(params: JobParams, defaults: Defaults | None = None) -> JobParams:
    """The params with every default filled in (a random seed included), or ``InvalidRequest`` naming
    the first value that cannot be used and how to fix it. Resolving resolved params changes nothing."""
    defaults = defaults or Defaults()
    prompt, tagged = take_lora_tags(params.prompt)
    if not prompt and not params.described and params.describe is None and not params.plain_upscale:
        raise InvalidRequest("the prompt is empty: describe the change or scene you want")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"the prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    if len(params.negative) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"the negative prompt is over {MAX_PROMPT_CHARS} characters")
    _check_syntax(params)
    mode = params.mode
    model = params.model or defaults.model
    speed = params.speed or defaults.speed
    rule = speed_rule(speed, model, defaults)
    server = {
        "steps": _speed_steps(params, rule) if rule is not None else defaults.steps,
        "cfg": rule.cfg if rule is not None else DEFAULT_CFG,
        "style": defaults.style,
        "speed": speed,
    }
    filled = _fill(params, mode, server)
    if params.plain_upscale:  # no strength given: super-resolution alone, no detail pass
        filled["strength"] = None
    if filled["seed"] is None:
        filled["seed"] = secrets.randbelow(SEED_MAX + 1)
    face = params.face
    if face is not None:
        face = FaceLock(
            **_fill(face, mode, {"min_identity": defaults.min_identity, "max_tries": defaults.max_tries})
        )
        budget = defaults.tries_budget
        if budget is not None and face.max_tries is not None and face.max_tries > budget:
            raise InvalidRequest(
                f"max_tries {face.max_tries} is over this bot's retry budget of {budget}: "
                f"choose {budget} or fewer"
            )
    filled["sampler"], filled["schedule"] = _sampling(params, defaults, rule)
    filled["model"] = model
    if filled["clip_skip"] is None and filled["model"] is not None:
        filled["clip_skip"] = defaults.clip_skips.get(filled["model"])
    if params.structure is None and params.structure_weight is not None:
        raise InvalidRequest("structure_weight needs a structure: choose structure canny or depth")
    if params.structure is not None and params.structure_weight is None:
        filled["structure_weight"] = DEFAULT_STRUCTURE_WEIGHT
    styled = replace(params, style=filled["style"])
    filled["loras"] = _checked_loras(params.loras + tagged + _style_loras(styled, tagged, defaults))
    filled["negative"] = params.negative or defaults.negative
    resolved = replace(params, **{**filled, "prompt": prompt, "face": face})
    if rule is not None:
        _check_speed(resolved, rule)
    _check_strength(resolved)
    return resolved


def speed_rule(speed: str | None, model: str | None, defaults: Defaults) -> SpeedRule | None:
    """The few-step rule a job runs under: its distilled checkpoint's in every speed, else its
    speed's (None for quality on a model as it is)."""
    if model is not None and model in defaults.distilled:
        return defaults.distilled[model]
    if defaults.distilled_model is not None:
        return defaults.distilled_model
    return SPEED_RULES.get(speed or defaults.speed)


def _speed_steps(params: JobParams, rule: SpeedRule) -> int:
    """The speed's steps, raised where the job's strength would leave no step to run: img2img runs
    ``steps × strength`` of them, so 4 steps at strength 0.2 become 5 (one denoising step)."""
    strength = params.strength if params.strength is not None else DEFAULT_STRENGTH.get(params.mode)
    if not params.mode.uses_strength or not strength:
        return rule.steps
    return max(rule.steps, math.ceil(1 / strength - 1e-9))


def _check_speed(params: JobParams, rule: SpeedRule) -> None:
    """A distilled few-step model takes few steps and a low CFG: more steps only cost time and blur
    the result, a high CFG burns it. Steps raised so that a low strength runs one step are its own."""
    speed = "this distilled model" if rule.sampler is not None else f"speed {params.speed}"
    assert params.steps is not None and params.cfg is not None
    most = rule.max_steps
    if params.mode.uses_strength and params.strength:
        most = max(most, math.ceil(1 / params.strength - 1e-9))
    if params.steps > most:
        raise InvalidRequest(
            f"{speed} runs {rule.steps} steps ({rule.what} is distilled for few steps): {params.steps} "
            f"would only cost time and blur the image. Choose {most} steps or fewer, or speed quality"
        )
    if params.cfg > rule.max_cfg:
        raise InvalidRequest(
            f"{speed} takes CFG {rule.cfg:g} ({rule.what} is distilled to need little guidance): "
            f"CFG {params.cfg:g} burns the image. Choose CFG {rule.max_cfg:g} or less, or speed quality"
        )


def _check_syntax(params: JobParams) -> None:
    """A1111's prompt syntax, its brackets balanced; the LoRA tags are blanked rather than cut, so
    a message's character positions are the prompt's as written."""
    parse(_LORA_TAG.sub(lambda tag: " " * len(tag.group(0)), params.prompt))
    parse(params.negative, "negative prompt")


def _sampling(params: JobParams, defaults: Defaults, rule: SpeedRule | None) -> tuple[str | None, str | None]:
    """The sampler and the schedule type it runs with: Automatic, or none, is the sampler's own.
    A few-step speed leaves both to its acceleration LoRA (the engine fills them in by the model's
    family) unless the job names a sampler; a distilled checkpoint names its own."""
    if rule is not None and params.sampler is None:
        if rule.sampler is None:
            return None, params.schedule if params.schedule != AUTOMATIC else None
        return rule.sampler, rule.schedule or SAMPLER_SCHEDULES[rule.sampler][0]
    sampler = params.sampler or defaults.sampler
    taken = SAMPLER_SCHEDULES[sampler]
    if params.schedule in (None, AUTOMATIC):
        return sampler, taken[0]
    if params.schedule not in taken:
        raise InvalidRequest(
            f"the {sampler} sampler does not take the {params.schedule} schedule: choose "
            f"{', '.join((AUTOMATIC, *taken))}"
        )
    return sampler, params.schedule


def _style_loras(params: JobParams, tagged: tuple[LoraUse, ...], defaults: Defaults) -> tuple[LoraUse, ...]:
    """The LoRAs the job's style adds, less those the job names itself (its weight wins); none twice,
    so resolving resolved params adds nothing."""
    if params.style is None:
        return ()
    if params.style not in defaults.style_names:
        raise InvalidRequest(
            f"unknown style {params.style!r}: choose one of {', '.join(defaults.style_names)}"
        )
    given = {use.name.lower() for use in params.loras + tagged}
    return tuple(use for use in defaults.styles.get(params.style, ()) if use.name.lower() not in given)


def _checked_loras(uses: tuple[LoraUse, ...]) -> tuple[LoraUse, ...]:
    if len(uses) > MAX_LORAS:
        raise InvalidRequest(f"{len(uses)} LoRAs given; a job takes at most {MAX_LORAS}")
    names = [use.name.lower() for use in uses]
    twice = next((use.name for use, name in zip(uses, names, strict=True) if names.count(name) > 1), None)
    if twice is not None:
        raise InvalidRequest(f"the LoRA “{twice}” is given twice: give it once, with one weight")
    low, high = LORA_WEIGHT_RANGE
    for use in uses:
        if math.isnan(use.weight) or not low <= use.weight <= high:
            raise InvalidRequest(
                f"the weight of the LoRA “{use.name}” must be between {low:g} and {high:g} "
                f"(got {use.weight:g}): 0.6–1 suits most"
            )
    return uses


def _fill(record: Any, mode: Mode, server: Mapping[str, Any]) -> dict[str, Any]:
    """Each ruled field of ``record`` checked, with its default filled in: the mode's, else the server's."""
    values: dict[str, Any] = {}
    for name, rule in rules(type(record)):
        value = getattr(record, name)
        if value is not None and not rule.applies(mode) and _default(type(record), name) is None:
            raise InvalidRequest(_unused(rule, mode))
        if value is None and rule.applies(mode):
            value = (rule.mode_defaults or {}).get(mode, server.get(name))
        if value is not None:
            rule.check(value)
        values[name] = value
    return values


def _default(record: type[Any], name: str) -> Any:
    return next(f.default for f in fields(record) if f.name == name)


def _unused(rule: Rule, mode: Mode) -> str:
    if rule.modes is not None and len(rule.modes) == 1:
        [only] = rule.modes
        return f"{rule.option} is only used by {only}: choose mode {only} or drop {rule.option}"
    return f"{rule.option} is not used by {mode}: leave it out"


def _check_strength(params: JobParams) -> None:
    strength, steps = params.strength, params.steps
    if strength is None or steps is None:
        return
    if strength == 0:
        raise InvalidRequest("strength 0 returns the image unchanged: use at least 0.05")
    if steps * strength < 1:
        raise InvalidRequest(
            f"with {steps} steps at strength {strength:g} no denoising step runs: "
            f"use at least {math.ceil(1 / strength)} steps or a higher strength"
        )


def shown(params: JobParams) -> Iterator[tuple[Rule, Any]]:
    """``(rule, value)`` for each setting that applies to this job's mode and has a value, in field
    order: what Info, the result embed and the PNG's parameters list."""
    for name, rule in rules(JobParams):
        value = getattr(params, name)
        if rule.listed and value is not None and value != () and rule.applies(params.mode):
            yield rule, value


def value_text(value: Any) -> str:
    """A setting as users read it: ``0.35``, ``7``, ``16:9``, ``anime:0.8, film:1``."""
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- as columns of ``jobs`` -------------------------------------------------------------------------


class ParamsCodec:
    """``JobParams`` as columns: a field is the column of its name, ``face.x`` is ``face_x`` (all NULL
    without face lock), ``loras`` a JSON list of ``[name, weight]``. ``storage`` stores and reads them
    without knowing what they mean."""

    FACE_PREFIX = "face_"

    def __init__(self) -> None:
        self._plain = tuple(f.name for f in fields(JobParams) if f.name != "face")
        self._face = tuple(f.name for f in fields(FaceLock))
        self.columns: tuple[str, ...] = self._plain + tuple(self.FACE_PREFIX + n for n in self._face)

    def encode(self, params: JobParams) -> dict[str, Any]:
        row: dict[str, Any] = {name: getattr(params, name) for name in self._plain}
        row["mode"] = params.mode.value
        row["loras"] = json.dumps([[use.name, use.weight] for use in params.loras])
        for name in self._face:
            row[self.FACE_PREFIX + name] = None if params.face is None else getattr(params.face, name)
        return row

    def decode(self, row: Mapping[str, Any]) -> JobParams:
        plain = {name: row[name] for name in self._plain}
        plain["mode"] = Mode(plain["mode"])
        plain["loras"] = tuple(
            LoraUse(name, float(weight)) for name, weight in json.loads(plain["loras"] or "[]")
        )
        face = {name: row[self.FACE_PREFIX + name] for name in self._face}
        locked = any(value is not None for value in face.values())
        return JobParams(**plain, face=FaceLock(**face) if locked else None)


PARAMS_CODEC = ParamsCodec()
