"""The durable fair job queue: validates limits, persists, feeds the GPU worker, reports events.

Scheduling and persistence live in ``storage.JobRepository`` (round-robin across users, restart
recovery); this module drives it: one dispatcher task claims the next job, runs it on the worker,
stores the outcome and tells the listeners (the Discord delivery cog). Any exception becomes a
failed job with a message for its owner; the dispatcher lives on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from bot.characters import CharacterGone
from bot.errors import Cancelled, LikenessError, QueueLimit
from bot.inflight import WorkInFlight, queue_full_message
from bot.jobs import GenerationResult
from bot.requests import request_from_row
from bot.worker import GpuWorker
from storage import (
    CancelOutcome,
    CancelResult,
    DiskFull,
    JobRepository,
    JobRow,
    NewJob,
    QueueEntry,
    QueueFull,
    QuotaExceeded,
)

log = logging.getLogger(__name__)

DEFAULT_JOB_SECONDS = 20.0  # estimate before any job has finished
SWEEP_INTERVAL = 3600.0

# (owner id, character id) -> (FaceID embeddings, primary reference image); raises LikenessError
IdentityFor = Callable[[int, int], Awaitable[tuple[tuple[bytes, ...], Path | None]]]


class JobListener(Protocol):
    """Receives job events on the event loop; exceptions are logged, never fatal."""

    async def job_started(self, job: JobRow) -> None: ...
    async def job_progress(self, job: JobRow, step: int, total: int) -> None: ...
    async def job_finished(self, job: JobRow, result: GenerationResult | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Ticket:
    job: JobRow
    position: int  # 1-based among waiting jobs; 0 = running now
    length: int  # jobs waiting or running


@dataclass(frozen=True, slots=True)
class QueueStatus:
    entries: tuple[QueueEntry, ...]  # everyone's, in run order
    length: int
    seconds_per_job: float

    def mine(self, user_id: int) -> tuple[QueueEntry, ...]:
        return tuple(e for e in self.entries if e.user_id == user_id)

    def wait_seconds(self, entry: QueueEntry) -> float:
        """Rough wait before ``entry`` starts: the jobs ahead of it at the recent median time."""
        return max(entry.position - 0.5, 0.0) * self.seconds_per_job


class JobQueue:
    def __init__(
        self,
        repo: JobRepository,
        worker: GpuWorker,
        *,
        per_user_limit: int,
        total_limit: int,
        history_seconds: float,
        identity_for: IdentityFor | None = None,
        max_stored_bytes: int | None = None,
        in_flight: WorkInFlight | None = None,
    ) -> None:
        """``max_stored_bytes``: the per-user storage quota for inputs; ``in_flight``: the users' face
        analyses, counted against ``per_user_limit`` with their jobs (shared with CharacterService)."""
        self.repo = repo
        self.identity_for = identity_for
        self.worker = worker
        self.per_user_limit = per_user_limit
        self.total_limit = total_limit
        self.history_seconds = history_seconds
        self.max_stored_bytes = max_stored_bytes
        self.in_flight = WorkInFlight(per_user_limit, repo.active_jobs) if in_flight is None else in_flight
        self.listeners: list[JobListener] = []
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._running: tuple[int, threading.Event] | None = None
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        requeued, failed = await self.repo.recover_after_restart()
        if requeued or failed:
            log.warning("after restart: requeued jobs %s, failed jobs %s", requeued, failed)
        for job_id in failed:
            job = await self.repo.get(job_id)
            if job is not None:
                self._notify("job_finished", job, None)
        removed = await self.repo.sweep_orphan_files()
        if removed:
            log.info("removed %d orphan media files", len(removed))
        self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="likeness-dispatcher")
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="likeness-sweeper")

    async def stop(self) -> None:
        """Stop taking jobs; interrupt the running one, which stays 'running' and is rerun on start."""
        self._stopping = True
        if self._running is not None:
            self._running[1].set()
        for task in (self._dispatcher, self._sweeper, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._dispatcher, self._sweeper):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- requests from users --------------------------------------------------------------------
    async def submit(
        self, fields: NewJob, image: tuple[bytes, str] | None = None, mask: tuple[bytes, str] | None = None
    ) -> Ticket:
        """Queue a job; ``QueueLimit`` (queue limits, work in flight) or ``LikenessError`` (storage
        quota, disk floor) with nothing stored."""
        user_id = fields.user_id
        try:
            async with self.in_flight.lock(user_id):  # no face analysis slips in between check and insert
                job = await self.repo.create_job(
                    fields,
                    image,
                    mask,
                    per_user_limit=self.per_user_limit,
                    total_limit=self.total_limit,
                    in_flight=self.in_flight.analyses(user_id),
                    max_stored_bytes=self.max_stored_bytes,
                )
        except QueueFull as exc:
            raise QueueLimit(queue_full_message(exc)) from None
        except (QuotaExceeded, DiskFull) as exc:
            raise LikenessError(str(exc)) from None
        self._wake.set()
        order = await self.repo.fair_order()
        position = next((e.position for e in order if e.job_id == job.id), len(order))
        return Ticket(job, position, len(order))

    async def check_room(self, user_id: int) -> None:
        """Cheap: raise what ``submit`` would for one more job of ``user_id`` (without inputs), so a
        command is refused before it downloads and decodes anything."""
        try:
            await self.repo.check_room(
                user_id,
                per_user_limit=self.per_user_limit,
                total_limit=self.total_limit,
                in_flight=self.in_flight.analyses(user_id),
                max_stored_bytes=self.max_stored_bytes,
            )
        except QueueFull as exc:
            raise QueueLimit(queue_full_message(exc)) from None
        except (QuotaExceeded, DiskFull) as exc:
            raise LikenessError(str(exc)) from None

    async def cancel(self, job_id: int, user_id: int) -> CancelResult:
        result = await self.repo.cancel(job_id, user_id)
        if result.outcome is CancelOutcome.CANCEL_RUNNING and self._running and self._running[0] == job_id:
            self._running[1].set()
        elif result.outcome is CancelOutcome.CANCELLED_QUEUED and result.job is not None:
            self._notify("job_finished", result.job, None)
        return result

    async def status(self) -> QueueStatus:
        entries = tuple(await self.repo.fair_order())
        durations = await self.repo.recent_durations()
        per_job = statistics.median(durations) if durations else DEFAULT_JOB_SECONDS
        return QueueStatus(entries, len(entries), per_job)

    # -- the dispatcher -------------------------------------------------------------------------
    async def _dispatch_forever(self) -> None:
        await self.worker.load()
        while not self._stopping:
            job = await self.repo.claim_next()
            if job is None:
                self._wake.clear()
                job = await self.repo.claim_next()  # a submit may have landed before clear()
                if job is None:
                    await self._wake.wait()
                    continue
            await self._run(job)

    async def _run(self, job: JobRow) -> None:
        cancel = threading.Event()
        self._running = (job.id, cancel)
        self._notify("job_started", job)
        try:
            image = await self.repo.media_path(job.input_media) if job.input_media else None
            mask = await self.repo.media_path(job.mask_media) if job.mask_media else None
            request = request_from_row(job, image, mask)
            if job.identity_weight is not None and job.character_id is None:  # deleted: SET NULL
                raise CharacterGone()
            if job.character_id is not None:
                if self.identity_for is None:
                    raise LikenessError("face lock is not available on this bot")
                identity, identity_image = await self.identity_for(job.user_id, job.character_id)
                request = replace(request, identity=identity, identity_image=identity_image)
            result = await self.worker.generate(
                request, lambda step, total: self._notify("job_progress", job, step, total), cancel
            )
        except Cancelled:
            if self._stopping:
                log.info("job %d interrupted by shutdown; it runs again after restart", job.id)
                return
            await self._finish(await self.repo.mark_cancelled(job.id), None)
        except LikenessError as exc:
            await self._finish(await self.repo.mark_failed(job.id, str(exc)), None)
        except Exception:
            log.exception("job %d failed unexpectedly", job.id)
            message = f"something went wrong while generating (job {job.id}); the bot's log has the details"
            await self._finish(await self.repo.mark_failed(job.id, message), None)
        else:
            outputs = [(c.png, c.seed, c.width, c.height, c.identity) for c in result.candidates]
            done = await self.repo.mark_done(
                job.id, outputs, result.seconds, result.warnings, tries=result.tries
            )
            if done is None:  # cancelled while its last step ran
                await self._finish(await self.repo.get(job.id), None)
            else:
                await self._finish(done, result)
        finally:
            self._running = None

    async def _finish(self, job: JobRow | None, result: GenerationResult | None) -> None:
        if job is not None:
            self._notify("job_finished", job, result)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                swept = await self.repo.sweep(self.history_seconds)
                if swept:
                    log.info("swept %d finished jobs older than the history window", swept)
            except Exception:
                log.exception("history sweep failed")
            await asyncio.sleep(SWEEP_INTERVAL)

    # -- events ---------------------------------------------------------------------------------
    def _notify(self, event: str, *args: Any) -> None:
        for listener in self.listeners:
            self._spawn(getattr(listener, event)(*args), f"{event} {type(listener).__name__}")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("listener %s failed", task.get_name(), exc_info=task.exception())

