"""Convert between stored job rows and engine requests (both plain data)."""

from __future__ import annotations

from pathlib import Path

from bot.jobs import GenerationRequest, Mode
from storage import JobRow, NewJob


def request_from_row(job: JobRow, image: Path | None, mask: Path | None) -> GenerationRequest:
    """The job as a request; face-lock settings included, the identity itself is filled by the queue."""
    face: dict[str, object] = {}
    if job.identity_weight is not None:
        face["identity_weight"] = job.identity_weight
    if job.identity_mode is not None:
        face["identity_mode"] = job.identity_mode
    if job.min_identity is not None:
        face["min_identity"] = job.min_identity
    if job.max_tries is not None:
        face["max_tries"] = job.max_tries
    return GenerationRequest(
        prompt=job.prompt,
        mode=Mode(job.mode),
        image=image,
        mask=mask,
        negative=job.negative,
        strength=job.strength,
        cfg=job.cfg,
        steps=job.steps,
        seed=job.seed,
        candidates=job.candidates,
        style=job.style,
        expand=job.expand,
        image_weight=job.image_weight,
        aspect=job.aspect,
        **face,  # type: ignore[arg-type]
    )


def new_job_fields(
    request: GenerationRequest,
    *,
    user_id: int,
    guild_id: int | None,
    channel_id: int | None,
    character_id: int | None = None,
    **delivery: object,
) -> NewJob:
    """A validated request (seed filled in) as insertable columns; ``delivery`` holds token fields.
    With ``character_id`` the request's face-lock settings are stored too (else they stay NULL)."""
    assert request.seed is not None, "validate the request first: the seed is stored"
    face: dict[str, object] = {}
    if character_id is not None:
        face = {
            "character_id": character_id,
            "identity_weight": request.identity_weight,
            "identity_mode": request.identity_mode,
            "min_identity": request.min_identity,
            "max_tries": request.max_tries,
        }
    return NewJob(
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        mode=request.mode.value,
        prompt=request.prompt,
        negative=request.negative,
        strength=request.strength,
        cfg=request.cfg,
        steps=request.steps,
        seed=request.seed,
        candidates=request.candidates,
        style=request.style,
        expand=request.expand,
        image_weight=request.image_weight,
        aspect=request.aspect,
        **face,  # type: ignore[arg-type]
        **delivery,  # type: ignore[arg-type]
    )
