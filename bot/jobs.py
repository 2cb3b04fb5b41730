"""What the engine is asked and what it answers: plain frozen data (paths, numbers, bytes).

Nothing here holds a Discord object, a database handle or a model, so a request can be handed to
the GPU worker thread (or, later, another process) as it is. A request is a job's parameters plus
the two things no parameter can say: its input files and the face it must keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.params import JobParams


@dataclass(frozen=True, slots=True)
class Identity:
    """The face a face-locked job keeps, read from its character when the job runs.

    ``embeddings``: one normalised float32 little-endian vector per reference (insightface's 512-d
    for FaceID; ``bot.engine.identity`` is their codec). ``primary``: the primary reference image,
    the image prompt when FaceID cannot be used. The engine never sees which character it is.
    """

    embeddings: tuple[bytes, ...] = ()
    primary: Path | None = None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    params: JobParams
    image: Path | None = None
    mask: Path | None = None
    identity: Identity | None = None  # with ``params.face``: the character's face


@dataclass(frozen=True, slots=True)
class Candidate:
    """One output image, PNG-encoded with its ``parameters`` chunk, and the seed that makes it."""

    png: bytes
    seed: int
    width: int
    height: int
    parameters: str
    identity: float | None = None  # cosine of the largest face to the character; None: no face or unscored
    nsfw: float | None = None  # the NSFW classifier's score (0–1); None: no classifier ran


@dataclass(frozen=True, slots=True)
class GenerationResult:
    params: JobParams  # resolved: seed, steps, strength and expand filled in
    candidates: tuple[Candidate, ...]
    model: str
    seconds: float
    warnings: tuple[str, ...] = field(default=())
    tries: int = 1  # generation rounds run (more than one only with min_identity)
    structure: bytes | None = None  # the structure map as a PNG, when a ControlNet ran (Show structure)
    suggestions: tuple[str, ...] = ()  # a /describe job's four prompts (it makes no candidates)
