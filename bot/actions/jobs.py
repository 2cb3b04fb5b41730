"""Cancel and delete a job, and who sees its structure map: one policy each, whichever entry point
asks (a slash command, a button, the HTTP API), so the outcomes read the same everywhere.

- Another user's job is the same as a missing one: ``JobNotFound`` ("you have no job N"), the API's
  404. Job ids are sequential; answering "not yours" would say which exist.
- Cancel: a queued job is cancelled at once, its input files dropped; a running one stops at its
  next step; a finished one is ``JobFinished``.
- Delete removes a finished job with its outputs and the files nothing else uses. A job that has not
  finished is refused (``JobQueued``, ``JobRunning``: cancel it first), so nothing a worker reads or
  writes disappears under it, and every job's end reaches its message and webhook.
- A structure map is drawn from the job's source picture. From the owner's own upload it is the
  owner's alone, as the upload is (the rule Reroll keeps too); from a posted output (Vary, Fix face,
  a zoom or pan, a reroll or edit of those) anyone who sees the result may see it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import JobFinished, JobNotFound, JobQueued, JobRunning, NotAllowed
from bot.params import JobParams
from storage import CancelOutcome, CancelResult, JobOrigin, JobStatus

if TYPE_CHECKING:
    from bot.running.queue import Job, JobQueue


class JobActions:
    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self.repo = queue.repo

    async def own(self, job_id: int, user_id: int, action: str | None = None) -> Job:
        """The caller's job ``job_id``; ``JobNotFound`` for a missing one and for another user's."""
        job = await self.repo.get(job_id)
        if job is None or job.user_id != user_id:
            raise JobNotFound(job_id, action)
        return job

    async def cancel(self, job_id: int, user_id: int) -> CancelResult[JobParams]:
        """``CANCELLED_QUEUED`` or ``CANCEL_RUNNING`` (it stops at its next step)."""
        result = await self.queue.cancel(job_id, user_id)
        if result.outcome in (CancelOutcome.NOT_FOUND, CancelOutcome.NOT_OWNER):
            raise JobNotFound(job_id, "cancel")
        if result.outcome is CancelOutcome.ALREADY_FINISHED:
            raise JobFinished(job_id)
        return result

    async def delete(self, job_id: int, user_id: int) -> Job:
        """Delete a finished job of the caller's; the row as it was, for the reply."""
        job = await self.own(job_id, user_id, "delete")
        _check_finished(job)
        if not await self.repo.delete_job(job_id, user_id):
            current = await self.own(job_id, user_id, "delete")  # it changed meanwhile: say how
            _check_finished(current)
            raise JobRunning(job_id)
        return job

    async def check_structure_viewer(self, job: Job, user_id: int) -> None:
        """``NotAllowed`` unless ``user_id`` may see the job's structure map (see the module's rule)."""
        if user_id != job.user_id and not await self._source_is_output(job):
            raise NotAllowed(
                f"the structure map of job {job.id} was drawn from a picture its owner uploaded, "
                "so only they can see it"
            )

    async def _source_is_output(self, job: Job) -> bool:
        """Whether the job's source picture is a job's output: Vary, Fix face, zooms and pans start from
        one, and a reroll or an edited prompt keeps its parent's source (a parent gone since: not
        known, so not)."""
        for _ in range(_MAX_REROLLS):
            if job.origin not in (JobOrigin.REROLL, JobOrigin.EDIT):
                return job.origin in (JobOrigin.VARY, JobOrigin.FIX_FACE, JobOrigin.REFRAME)
            parent = await self.repo.get(job.parent_job_id) if job.parent_job_id is not None else None
            if parent is None or parent.input_media != job.input_media:
                return False
            job = parent
        return False


_MAX_REROLLS = 100  # rerolls of rerolls followed back to their source


def _check_finished(job: Job) -> None:
    if job.status is JobStatus.QUEUED:
        raise JobQueued(job.id)
    if job.status is JobStatus.RUNNING:
        raise JobRunning(job.id)
