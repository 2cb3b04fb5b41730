"""The fixed choice lists of a job's options: each list written once, here.

A leaf: it imports nothing, so ``bot.params`` stays pure data and the engine reads the same lists
without either loading the other. The engine keeps what the choices mean (bucket sizes, outpaint
growth, style templates); ``tests/bot/engine`` checks that it knows every name listed here.
"""

from __future__ import annotations

from enum import StrEnum

ASPECT_RATIOS: tuple[str, ...] = ("1:1", "4:5", "3:2", "2:3", "16:9", "9:16", "21:9")
"""The shapes of a new image (and outpaint's target ratios)."""

DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down", "all")
"""Ways outpaint extends a picture without a target ratio."""

ZOOMS: tuple[str, ...] = ("zoom1.5", "zoom2")
"""Zoom out: the canvas grown by this factor on both sides, the picture in its centre."""

OUTPAINT_TARGETS: tuple[str, ...] = ASPECT_RATIOS + DIRECTIONS + ZOOMS
"""What ``expand`` accepts: a target aspect ratio, a direction or a zoom out."""

STYLE_NAMES: tuple[str, ...] = (
    "photorealistic",
    "artistic",
    "cartoon",
    "minimalist",
    "vintage",
    "futuristic",
)
"""The style presets (``bot.engine.styles`` holds their templates); servers add their own."""


class Structure(StrEnum):
    """What a ControlNet keeps of the reference."""

    CANNY = "canny"  # its edges
    DEPTH = "depth"  # near and far


STRUCTURES: tuple[str, ...] = tuple(s.value for s in Structure)


class IdentityMode(StrEnum):
    """How face lock reads a character's references."""

    ALL = "all"  # every reference as its own FaceID token
    MEAN = "mean"  # their mean embedding as one token


IDENTITY_MODES: tuple[str, ...] = tuple(m.value for m in IdentityMode)


class Speed(StrEnum):
    """How many UNet evaluations a picture may cost: the model's own steps, or a few-step
    acceleration LoRA (or a checkpoint distilled for few steps) at fewer."""

    QUALITY = "quality"  # the job's steps and CFG on the model as it is
    FAST = "fast"  # about 8 steps through the family's acceleration LoRA
    TURBO = "turbo"  # about 4 steps, CFG off (the negative prompt is not read)


SPEEDS: tuple[str, ...] = tuple(s.value for s in Speed)


class DescribeDetail(StrEnum):
    """``/describe``: the detailed caption, or the more detailed one (slower)."""

    STANDARD = "standard"
    DETAILED = "detailed"


DESCRIBE_DETAILS: tuple[str, ...] = tuple(d.value for d in DescribeDetail)


SAMPLER_SCHEDULES: dict[str, tuple[str, ...]] = {
    "DPM++ 2M": ("Karras", "Uniform", "Exponential", "SGM Uniform"),
    "DPM++ 2M SDE": ("Exponential", "Uniform", "Karras", "SGM Uniform"),
    "DPM++ SDE": ("Karras", "Uniform", "Exponential", "SGM Uniform"),
    "Euler": ("Uniform", "Karras", "Exponential", "SGM Uniform"),
    "Euler a": ("Uniform", "SGM Uniform"),
    "Heun": ("Uniform", "Karras", "Exponential", "SGM Uniform"),
    "LMS": ("Uniform", "Karras", "Exponential", "SGM Uniform"),
    "DPM2": ("Uniform", "Karras", "Exponential", "SGM Uniform"),
    "DPM2 a": ("Uniform", "Karras", "Exponential", "SGM Uniform"),
    "UniPC": ("Uniform", "Karras", "Exponential", "SGM Uniform"),
    "DDIM": ("Uniform", "SGM Uniform"),
    "PLMS": ("Uniform",),
    "LCM": ("Uniform", "SGM Uniform"),
}
"""The samplers by their A1111 names, each with the schedule types it takes, its automatic one
first (A1111's: Karras for DPM++ 2M and DPM++ SDE, Exponential for DPM++ 2M SDE, else the
model's own spacing). ``bot.engine.samplers`` maps each pair to a diffusers scheduler."""

SAMPLERS: tuple[str, ...] = tuple(SAMPLER_SCHEDULES)
DEFAULT_SAMPLER = "DPM++ 2M"  # A1111's default since 1.6 (then "DPM++ 2M Karras")
AUTOMATIC = "Automatic"
SCHEDULES: tuple[str, ...] = (AUTOMATIC, "Uniform", "Karras", "Exponential", "SGM Uniform")
"""A1111's schedule types offered here; Automatic is the sampler's own (the first it takes)."""
