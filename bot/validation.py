"""Check a request before any work or write happens; every message names the fix.

Raises ``InvalidRequest`` (diffusers' rule: a concise error beats silently correcting input).
The Discord commands declare the same ranges with ``min_value``/``max_value`` and this runs again
on the server, so a hand-crafted interaction cannot slip past.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import replace

from bot.engine.identity import decode_identity
from bot.engine.images import ASPECT_RATIOS
from bot.engine.outpaint import OUTPAINT_TARGETS
from bot.engine.styles import STYLE_NAMES
from bot.errors import InvalidRequest
from bot.jobs import (
    CANDIDATES_RANGE,
    CFG_RANGE,
    DEFAULT_EXPAND,
    DEFAULT_STRENGTH,
    IDENTITY_MODES,
    IDENTITY_WEIGHT_RANGE,
    IMAGE_WEIGHT_RANGE,
    MAX_IDENTITY_REFERENCES,
    MAX_PROMPT_CHARS,
    MAX_TRIES_RANGE,
    MIN_IDENTITY_RANGE,
    SEED_MAX,
    STEPS_RANGE,
    STRENGTH_RANGE,
    GenerationRequest,
    Mode,
)


def _check_range(name: str, value: float, bounds: tuple[float, float], *, hint: str = "") -> None:
    low, high = bounds
    if not isinstance(value, int | float) or math.isnan(value) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {_num(low)} and {_num(high)} (got {value}){hint}")


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidRequest(f"unknown {name} {value!r}: choose one of {', '.join(choices)}")


def validate_request(
    request: GenerationRequest,
    *,
    has_image: bool | None = None,
    has_mask: bool | None = None,
    has_identity: bool | None = None,
) -> GenerationRequest:
    """Return the request with defaults filled in (mode strength, expand, a random seed).

    ``has_image``/``has_mask`` let a caller validate before the attachments are stored as files,
    ``has_identity`` before a queued job's character embeddings are read.
    """
    image = request.image is not None if has_image is None else has_image
    mask = request.mask is not None if has_mask is None else has_mask
    prompt = request.prompt.strip()
    if not prompt:
        raise InvalidRequest("the prompt is empty: describe the change or scene you want")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"the prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    if len(request.negative) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"the negative prompt is over {MAX_PROMPT_CHARS} characters")

    mode = request.mode
    if mode.needs_image and not image:
        raise InvalidRequest(f"{mode.value} needs an image: attach one, or leave out the mode")
    if mode is Mode.TEXT and image:
        raise InvalidRequest(
            "an image was given without a mode that uses it: choose img2img, "
            "image_prompt, inpaint or outpaint"
        )
    if mode is Mode.INPAINT and not mask:
        raise InvalidRequest("inpaint needs a mask: white where the image should change, black elsewhere")
    if mode is not Mode.INPAINT and mask:
        raise InvalidRequest("a mask is only used by inpaint: choose mode inpaint or drop the mask")
    if mode is not Mode.OUTPAINT and request.expand is not None:
        raise InvalidRequest("expand is only used by outpaint: choose mode outpaint or drop expand")

    _check_range("steps", request.steps, STEPS_RANGE)
    if not isinstance(request.steps, int):
        raise InvalidRequest(f"steps must be a whole number (got {request.steps})")
    _check_range("cfg", request.cfg, CFG_RANGE, hint=": 5–8 suits most prompts")
    _check_range("candidates", request.candidates, CANDIDATES_RANGE)
    _check_range("image_weight", request.image_weight, IMAGE_WEIGHT_RANGE)
    if request.seed is not None:
        _check_range("seed", request.seed, (0, SEED_MAX))
    if request.style is not None:
        _check_choice("style", request.style, STYLE_NAMES)
    _check_choice("aspect ratio", request.aspect, ASPECT_RATIOS)
    _check_identity(request, bool(request.identity) if has_identity is None else has_identity)

    strength = request.strength
    if mode.uses_strength:
        strength = DEFAULT_STRENGTH[mode] if strength is None else strength
        _check_range("strength", strength, STRENGTH_RANGE, hint=": 0.2–0.4 keeps a face, 0.7–0.9 transforms")
        if strength == 0:
            raise InvalidRequest("strength 0 returns the image unchanged: use at least 0.05")
        if request.steps * strength < 1:
            need = math.ceil(1 / strength)
            raise InvalidRequest(
                f"with {request.steps} steps at strength {strength:g} no denoising step runs: "
                f"use at least {need} steps or a higher strength"
            )
    elif strength is not None:
        raise InvalidRequest(f"strength is not used by {mode.value}: leave it out")

    expand = request.expand
    if mode is Mode.OUTPAINT:
        expand = DEFAULT_EXPAND if expand is None else expand
        _check_choice("expand", expand, OUTPAINT_TARGETS)

    seed = secrets.randbelow(SEED_MAX + 1) if request.seed is None else int(request.seed)
    return replace(request, prompt=prompt, strength=strength, expand=expand, seed=seed)


def face_lock_defaults(
    min_identity: float | None,
    max_tries: int | None,
    *,
    has_character: bool,
    server_min_identity: float | None,
    budget: int,
) -> tuple[float | None, int]:
    """(min_identity, max_tries) for a new job: the server's defaults where the user gave none, and
    never more tries than the server's retry budget."""
    tries = budget if max_tries is None else max_tries
    if tries > budget:
        raise InvalidRequest(
            f"max_tries {tries} is over this bot's retry budget of {budget}: choose {budget} or fewer"
        )
    if min_identity is None and has_character:
        min_identity = server_min_identity
    return min_identity, tries


def _check_identity(request: GenerationRequest, has_identity: bool) -> None:
    """Face lock fields: ranges always (so a bad default fails early), the rest only when used."""
    _check_range("identity_weight", request.identity_weight, IDENTITY_WEIGHT_RANGE, hint=": 0.6–1 suits most")
    _check_range("max_tries", request.max_tries, MAX_TRIES_RANGE)
    if not isinstance(request.max_tries, int):
        raise InvalidRequest(f"max_tries must be a whole number (got {request.max_tries})")
    if request.min_identity is not None:
        _check_range("min_identity", request.min_identity, MIN_IDENTITY_RANGE, hint=": 0.4–0.6 is typical")
        if not has_identity:
            raise InvalidRequest("min_identity needs a character to compare with: choose a character")
    _check_choice("identity mode", request.identity_mode, IDENTITY_MODES)
    if len(request.identity) > MAX_IDENTITY_REFERENCES:
        raise InvalidRequest(
            f"{len(request.identity)} identity embeddings given; the limit is {MAX_IDENTITY_REFERENCES}"
        )
    if request.identity:
        decode_identity(request.identity)
