"""Cancel and delete a job: one policy each, whichever entry point asks (a slash command, a button,
the HTTP API), so the outcomes read the same everywhere.

- Another user's job is the same as a missing one: ``JobNotFound`` ("you have no job N"), the API's
  404. Job ids are sequential; answering "not yours" would say which exist.
- Cancel: a queued job is cancelled at once, its input files dropped; a running one stops at its
  next step; a finished one is ``JobFinished``.
- Delete removes a finished job with its outputs and the files nothing else uses. A job that has not
  finished is refused (``JobQueued``, ``JobRunning``: cancel it first), so nothing a worker reads or
  writes disappears under it, and every job's end reaches its message and webhook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import JobFinished, JobNotFound, JobQueued, JobRunning
from bot.params import JobParams
from storage import CancelOutcome, CancelResult, JobStatus

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


def _check_finished(job: Job) -> None:
    if job.status is JobStatus.QUEUED:
        raise JobQueued(job.id)
    if job.status is JobStatus.RUNNING:
        raise JobRunning(job.id)
