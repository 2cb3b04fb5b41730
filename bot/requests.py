"""Convert between stored job rows and engine requests (both plain data)."""

from __future__ import annotations

from pathlib import Path

from bot.jobs import GenerationRequest, Mode
from storage import JobRow, NewJob


def request_from_row(job: JobRow, image: Path | None, mask: Path | None) -> GenerationRequest:
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
    )


def new_job_fields(
    request: GenerationRequest,
    *,
    user_id: int,
    guild_id: int | None,
    channel_id: int | None,
    **delivery: object,
) -> NewJob:
    """A validated request (seed filled in) as insertable columns; ``delivery`` holds token fields."""
    assert request.seed is not None, "validate the request first: the seed is stored"
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
        **delivery,  # type: ignore[arg-type]
    )
