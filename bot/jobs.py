"""Requests and results: plain frozen data (paths, numbers, bytes) that cross threads and processes.

Nothing here holds a Discord object, a database handle or a model, so a job can be stored,
restored after a restart and handed to the GPU worker thread as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path


class Mode(StrEnum):
    TEXT = "text"
    IMG2IMG = "img2img"
    IMAGE_PROMPT = "image_prompt"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"

    @property
    def needs_image(self) -> bool:
        return self is not Mode.TEXT

    @property
    def uses_strength(self) -> bool:
        return self in (Mode.IMG2IMG, Mode.INPAINT, Mode.OUTPAINT)


# Limits shared by the command line, the slash commands (min/max values) and the engine.
MAX_PROMPT_CHARS = 1000
STEPS_RANGE = (1, 100)
CFG_RANGE = (0.0, 20.0)
STRENGTH_RANGE = (0.0, 1.0)
IMAGE_WEIGHT_RANGE = (0.0, 1.5)
IDENTITY_WEIGHT_RANGE = (0.0, 1.5)
MIN_IDENTITY_RANGE = (0.0, 1.0)
MAX_TRIES_RANGE = (1, 10)
DEFAULT_MAX_TRIES = 3
MAX_IDENTITY_REFERENCES = 32
IDENTITY_MODES = ("all", "mean")
CANDIDATES_RANGE = (1, 4)
SEED_MAX = 2**32 - 1

DEFAULT_CFG = 7.0
DEFAULT_IMAGE_WEIGHT = 0.6
DEFAULT_IDENTITY_WEIGHT = 0.8
# Identity first: low strength keeps the face; inpaint/outpaint must be free to change their region.
DEFAULT_STRENGTH = {Mode.IMG2IMG: 0.35, Mode.INPAINT: 0.85, Mode.OUTPAINT: 0.95}
DEFAULT_EXPAND = "all"
DEFAULT_ASPECT = "1:1"


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What to generate. ``None`` means "the mode's default"; ``resolve`` fills them in."""

    prompt: str
    mode: Mode = Mode.TEXT
    image: Path | None = None
    mask: Path | None = None
    negative: str = ""
    strength: float | None = None
    cfg: float = DEFAULT_CFG
    steps: int = 30
    seed: int | None = None
    candidates: int = 1
    style: str | None = None
    expand: str | None = None
    image_weight: float = DEFAULT_IMAGE_WEIGHT
    aspect: str = DEFAULT_ASPECT
    # Face lock. ``identity``: one float32 little-endian, normalised embedding per reference of the
    # character (insightface 512-d for FaceID); the bot fills it, the engine never sees character ids.
    identity: tuple[bytes, ...] = ()
    identity_weight: float = DEFAULT_IDENTITY_WEIGHT
    identity_mode: str = "all"  # "all": every reference as one token set; "mean": their normalised mean
    # Used as an image prompt at ``identity_weight`` when FaceID is not available (the primary reference).
    identity_image: Path | None = None
    min_identity: float | None = None  # regenerate candidates whose face scores below this cosine
    max_tries: int = DEFAULT_MAX_TRIES  # total generation rounds, the first included

    @property
    def wants_identity(self) -> bool:
        return bool(self.identity) or self.identity_image is not None

    def with_seed(self, seed: int) -> GenerationRequest:
        return replace(self, seed=seed)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One output image, PNG-encoded with its ``parameters`` chunk, and the seed that makes it."""

    png: bytes
    seed: int
    width: int
    height: int
    parameters: str
    identity: float | None = None  # cosine of the largest face to the character; None: no face or unscored


@dataclass(frozen=True, slots=True)
class GenerationResult:
    request: GenerationRequest  # resolved: seed, strength and expand filled in
    candidates: tuple[Candidate, ...]
    model: str
    seconds: float
    warnings: tuple[str, ...] = field(default=())
    tries: int = 1  # generation rounds run (more than one only with min_identity)
