"""A stored job as the API shows it: status, place in line, progress, outputs, parameters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.api.schemas import JobState, JobView, Output, Progress
from bot.nsfw_policy import ApiKeyPlace, NsfwPolicy, decide
from bot.params import JobParams, rules
from bot.running.queue import Job, JobQueue
from storage import JobStatus, OutputRow

STATES: dict[JobStatus, JobState] = {
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "running",
    JobStatus.DONE: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "canceled",
}


def iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def parameters(params: JobParams) -> dict[str, str | int | float | list[str] | None]:
    """The job's settings by their option names, as they ran (defaults filled in)."""
    shown: dict[str, str | int | float | list[str] | None] = {
        "prompt": params.prompt,
        "negative": params.negative,
        "mode": params.mode.value,
    }
    for name, rule in rules(JobParams):
        value = getattr(params, name)
        if rule.applies(params.mode) and value is not None and value != ():
            shown[rule.option] = [str(u) for u in value] if isinstance(value, tuple) else value
    if params.face is not None:
        for name, rule in rules(type(params.face)):
            value = getattr(params.face, name)
            if value is not None:
                shown[rule.option] = value
    return shown


class JobViews:
    """Builds ``JobView``s; ``base_url`` makes the outputs' URLs absolute (webhooks have no request);
    ``nsfw`` gives the NSFW policy in force (read at each view: the threshold flags the stored scores)."""

    def __init__(self, queue: JobQueue, base_url: str, nsfw: Callable[[], NsfwPolicy] = NsfwPolicy) -> None:
        self.queue = queue
        self.base_url = base_url.rstrip("/")
        self.nsfw = nsfw
        self.progress: dict[int, tuple[int, int]] = {}  # running jobs' last step, from the queue's events

    def withheld(self, output: OutputRow, allows_nsfw: bool) -> str | None:
        """Why ``output`` is withheld from a key (``allows_nsfw``: the key's flag), or None: it may see it."""
        policy = self.nsfw()
        return decide(policy.flagged(output.nsfw), ApiKeyPlace(allows_nsfw), policy).reason

    async def view(
        self,
        job: Job,
        *,
        position: int | None = None,
        known_position: bool = False,
        allows_nsfw: bool = False,
    ) -> JobView:
        """``allows_nsfw``: whether the key it is shown to allows flagged outputs (the outputs say
        ``withheld`` otherwise)."""
        if job.status is JobStatus.QUEUED and not known_position:
            status = await self.queue.status()
            position = next((e.position for e in status.entries if e.job_id == job.id), None)
        outputs = await self.queue.repo.outputs(job.id) if job.status is JobStatus.DONE else []
        total = job.params.steps or 0
        step, total = self.progress.get(job.id, (total if job.status is JobStatus.DONE else 0, total))
        policy = self.nsfw()
        return JobView(
            id=job.id,
            status=STATES[job.status],
            position=position if job.status is JobStatus.QUEUED else None,
            progress=Progress(step=step, total=total),
            outputs=[
                Output(
                    index=o.idx,
                    url=f"{self.base_url}/v1/jobs/{job.id}/outputs/{o.idx}",
                    seed=o.seed,
                    identity=o.identity,
                    width=o.width,
                    height=o.height,
                    nsfw=policy.flagged(o.nsfw),
                    nsfw_score=o.nsfw,
                    withheld=self.withheld(o, allows_nsfw) is not None,
                )
                for o in outputs
            ],
            suggestions=list(job.suggestions),
            structure_url=(
                f"{self.base_url}/v1/jobs/{job.id}/structure" if job.structure_media is not None else None
            ),
            error=job.error,
            warnings=list(job.warnings),
            parameters=parameters(job.params),
            created_at=iso(job.created_at) or "",
            started_at=iso(job.started_at),
            finished_at=iso(job.finished_at),
        )


__all__ = ["STATES", "JobViews", "iso", "parameters"]
