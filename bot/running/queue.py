"""The durable fair job queue: validates limits, persists, feeds the GPU worker, reports events.

Scheduling and persistence live in ``storage.JobRepository`` (round-robin across users, restart
recovery); this module drives it: one dispatcher task claims the next job, runs it on the worker,
stores the outcome and tells the listeners (the Discord delivery cog). Any exception becomes a
failed job with a message for its owner; the dispatcher lives on.

The dispatcher never dies of a fault: every step is guarded, logged and retried after a backoff,
and a task that ends anyway is restarted by its done-callback. An outcome that cannot be stored
yet (the database is locked by the CLI or a backup, the disk is full) is held in memory and
written before any other job starts; ``JobQueue.health`` says meanwhile that the worker is down.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from bot.errors import (
    Cancelled,
    CharacterGone,
    FaceLockUnavailable,
    LikenessError,
    ModelsNotLoaded,
    WorkerLost,
)
from bot.explain import explain
from bot.jobs import GenerationRequest, GenerationResult, Identity
from bot.params import JobParams
from bot.running.faults import Backoff, Health, down_reason, is_transient, not_saved_message
from bot.running.inflight import WorkInFlight
from bot.running.runners import JobRunner, WorkerState
from storage import (
    CancelOutcome,
    CancelResult,
    DailyCap,
    JobRepository,
    JobRow,
    JobStatus,
    NewJob,
    OutputData,
    QueueEntry,
    StorageError,
)

log = logging.getLogger(__name__)

DEFAULT_JOB_SECONDS = 20.0  # estimate before any job has finished
SWEEP_INTERVAL = 3600.0
_INTERRUPTED = "the bot's worker was interrupted twice while running this job; try again"
_LOST = "the GPU worker running this job stopped twice; try again"
BUG = "bug"  # the failure code of an unexpected error (the user gets a reference to the log)

Job = JobRow[JobParams]
# (owner id, character id) -> the character's face; raises LikenessError (deleted, empty)
IdentityFor = Callable[[int, int], Awaitable[Identity]]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A job just queued, and its place: what its owner is told at once."""

    job: Job
    position: int  # 1-based among waiting jobs; 0 = running now
    length: int  # jobs waiting or running
    wait_seconds: float  # rough wait before it starts


class JobListener(Protocol):
    """Receives job events on the event loop; exceptions are logged, never fatal."""

    async def job_queued(self, ticket: Ticket) -> None: ...
    async def job_started(self, job: Job) -> None: ...
    async def job_progress(self, job: Job, step: int, total: int) -> None: ...
    async def job_finished(self, job: Job, result: GenerationResult | None) -> None: ...


@dataclass(frozen=True, slots=True)
class QueueStatus:
    entries: tuple[QueueEntry, ...]  # everyone's, in run order
    length: int
    seconds_per_job: float
    health: Health | None = None  # None while the worker takes jobs
    workers: tuple[WorkerState, ...] = ()  # where jobs run: one local worker, or the Ray workers

    def mine(self, user_id: int) -> tuple[QueueEntry, ...]:
        return tuple(e for e in self.entries if e.user_id == user_id)

    def wait_seconds(self, entry: QueueEntry) -> float:
        """Rough wait before ``entry`` starts: the jobs ahead of it at the recent median time, shared
        by the workers that take jobs."""
        ready = max(1, sum(w.ready for w in self.workers))
        return max(entry.position - 0.5, 0.0) * self.seconds_per_job / ready


class _Write(Enum):
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REQUEUE = "queued again"


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How a job ended, held in memory until the database has taken it."""

    job: Job
    write: _Write
    result: GenerationResult | None = None
    error: str | None = None
    code: str = "error"  # the failure's kind (bot.errors' codes; "bug" for the unexpected)

    def after(self, exc: BaseException) -> _Outcome:
        """What to store once writing this failed with ``exc``: itself again when the failure
        passes (a lock held elsewhere); results that cannot be stored become a failure with a
        message; a job that cannot be finished at all goes back to the queue (or fails for good
        after ``max_attempts``, which the repository decides)."""
        if is_transient(exc):
            return self
        if self.write is _Write.DONE:
            return _Outcome(self.job, _Write.FAILED, error=not_saved_message(exc), code="not_saved")
        if self.write is _Write.REQUEUE:
            return self
        return _Outcome(self.job, _Write.REQUEUE, error=self.error or _INTERRUPTED)


class JobQueue:
    def __init__(
        self,
        repo: JobRepository[JobParams],
        worker: JobRunner,
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
        self.slots = worker.slots  # jobs that may run at once (read again once the runner has loaded)
        self._running: dict[int, threading.Event] = {}  # job id -> its cancel flag
        self._job_tasks: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()
        self._stopping = False
        self._unsettled: dict[int, _Outcome] = {}  # outcomes not yet stored, by job id
        self._health: Health | None = None
        self._backoff = Backoff()
        self._restart: asyncio.TimerHandle | None = None

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
        self._start_dispatcher()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="likeness-sweeper")

    async def stop(self) -> None:
        """Stop taking jobs; interrupt the running one, which stays 'running' and is rerun on start.

        Never raises what the dispatcher died of: that was logged when it happened."""
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
        for cancel in self._running.values():
            cancel.set()
        own = [task for task in (self._dispatcher, self._sweeper, *self._job_tasks) if task is not None]
        for task in (*own, *self._tasks):
            task.cancel()
        if own:
            await asyncio.wait(own)

    @property
    def health(self) -> Health | None:
        """None while the dispatcher takes jobs; else why it does not, and since when."""
        return self._health

    # -- requests from users --------------------------------------------------------------------
    async def submit(
        self,
        fields: NewJob[JobParams],
        image: tuple[bytes, str] | None = None,
        mask: tuple[bytes, str] | None = None,
        daily_caps: Sequence[DailyCap] = (),
    ) -> Ticket:
        """Queue a job and tell the listeners (``job_queued``); raises storage's ``QueueFull``
        (queue limits, work in flight), ``QuotaExceeded`` or ``DiskFull`` with nothing stored."""
        user_id = fields.user_id
        async with self.in_flight.lock(user_id):  # no face analysis slips in between check and insert
            job = await self.repo.create_job(
                fields, image, mask, **self._limits(user_id), daily_caps=daily_caps
            )
        self._wake.set()
        status = await self.status()
        entry = next((e for e in status.entries if e.job_id == job.id), None)
        ticket = (
            Ticket(job, entry.position, status.length, status.wait_seconds(entry))
            if entry is not None
            else Ticket(job, 0, status.length, 0.0)  # already finished (cancelled at once)
        )
        self._notify("job_queued", ticket)
        return ticket

    async def check_room(self, user_id: int, daily_caps: Sequence[DailyCap] = ()) -> None:
        """Cheap: raise what ``submit`` would for one more job of ``user_id`` (without inputs), so a
        command is refused before it downloads and decodes anything."""
        await self.repo.check_room(user_id, **self._limits(user_id), daily_caps=daily_caps)

    def _limits(self, user_id: int) -> dict[str, Any]:
        return {
            "per_user_limit": self.per_user_limit,
            "total_limit": self.total_limit,
            "in_flight": self.in_flight.analyses(user_id),
            "max_stored_bytes": self.max_stored_bytes,
        }

    async def cancel(self, job_id: int, user_id: int) -> CancelResult[JobParams]:
        result = await self.repo.cancel(job_id, user_id)
        if result.outcome is CancelOutcome.CANCEL_RUNNING and job_id in self._running:
            self._running[job_id].set()
        elif result.outcome is CancelOutcome.CANCELLED_QUEUED and result.job is not None:
            self._notify("job_finished", result.job, None)
        return result

    async def status(self) -> QueueStatus:
        models = self.worker.models
        entries = tuple(
            await self.repo.fair_order(self.worker.warm(), models.default, models.budget.count or 1)
        )
        durations = await self.repo.recent_durations()
        per_job = statistics.median(durations) if durations else DEFAULT_JOB_SECONDS
        return QueueStatus(entries, len(entries), per_job, self._health, tuple(self.worker.states()))

    # -- the dispatcher -------------------------------------------------------------------------
    def _start_dispatcher(self) -> None:
        self._restart = None
        if self._stopping:
            return
        self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="likeness-dispatcher")
        self._dispatcher.add_done_callback(self._dispatcher_done)

    def _dispatcher_done(self, task: asyncio.Task[None]) -> None:
        """The loop below never ends by itself; if it did anyway, log why and start it again."""
        if self._stopping:
            return
        delay = self._backoff.next()
        if task.cancelled():
            log.error("the dispatcher was cancelled; restarting it in %.1f s", delay)
        else:
            log.error("the dispatcher crashed; restarting it in %.1f s", delay, exc_info=task.exception())
        self._down("the dispatcher crashed and is restarting")
        self._restart = asyncio.get_running_loop().call_later(delay, self._start_dispatcher)

    async def _dispatch_forever(self) -> None:
        """One guarded step at a time: a failing step is logged and retried after a backoff."""
        while not self._stopping:
            try:
                await self._step()
            except Exception as exc:
                delay = self._backoff.next()
                reason = down_reason(exc)
                self._down(reason)
                log.exception("dispatcher: %s; trying again in %.1f s", reason, delay)
                await asyncio.sleep(delay)

    async def _step(self) -> None:
        """Load the engine, store the outcomes still held in memory, else start the next job on a
        free slot (``claim_next`` picks it: the fair order holds however many run at once)."""
        if not self.worker.loaded:
            try:
                await self.worker.load()
            except Exception as exc:
                raise ModelsNotLoaded("the models could not be loaded") from exc
        if self._unsettled:  # no other job starts before these are written down
            await self._settle()
            self._up()
            return
        self.slots = self.worker.slots
        if len(self._running) >= self.slots:
            self._slot_free.clear()
            if len(self._running) >= self.slots and not self._unsettled:
                await self._slot_free.wait()
            return
        warm, default = self.worker.warm(), self.worker.models.default
        job = await self.repo.claim_next(warm, default)
        if job is None:
            self._wake.clear()
            job = await self.repo.claim_next(warm, default)  # a submit may have landed before clear()
        self._up()
        if job is None:
            await self._wake.wait()
            return
        self._start(job)

    def _start(self, job: Job) -> None:
        cancel = threading.Event()
        self._running[job.id] = cancel
        task = asyncio.create_task(self._run(job, cancel), name=f"likeness-job-{job.id}")
        self._job_tasks.add(task)
        task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._job_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("job task %s failed", task.get_name(), exc_info=task.exception())
        self._slot_free.set()
        self._wake.set()  # its outcome is stored next, even when no job is waiting

    async def _run(self, job: Job, cancel: threading.Event) -> None:
        """Run one job; its outcome is held for the dispatcher to store (``_settle``)."""
        try:
            self._notify("job_started", job)
            outcome = await self._generate(job, cancel)
        except BaseException:
            if not self._stopping:  # cancelled or crashed mid-job, not by a shutdown
                cancel.set()
                self._unsettled[job.id] = _Outcome(job, _Write.REQUEUE, error=_INTERRUPTED)
            raise
        finally:
            self._running.pop(job.id, None)
        if outcome is not None:
            self._unsettled[job.id] = outcome

    async def _generate(self, job: Job, cancel: threading.Event) -> _Outcome | None:
        """Run the job; every way it can end, as the write that records it (None: shutting down)."""
        try:
            request = await self._request(job)
            result = await self.worker.generate(
                request, lambda step, total: self._notify("job_progress", job, step, total), cancel
            )
        except WorkerLost:
            return _Outcome(job, _Write.REQUEUE, error=_LOST)
        except Cancelled:
            if self._stopping:
                log.info("job %d interrupted by shutdown; it runs again after restart", job.id)
                return None
            return _Outcome(job, _Write.CANCELLED)
        except (LikenessError, StorageError) as exc:
            explained = explain(exc)
            if explained is not None:
                return _Outcome(job, _Write.FAILED, error=explained.message, code=explained.code)
            log.exception("job %d failed unexpectedly", job.id)
            return _Outcome(job, _Write.FAILED, error=_unexpected(job), code=BUG)
        except Exception:
            log.exception("job %d failed unexpectedly", job.id)
            return _Outcome(job, _Write.FAILED, error=_unexpected(job), code=BUG)
        return _Outcome(job, _Write.DONE, result=result)

    async def _request(self, job: Job) -> GenerationRequest:
        """The stored job as the engine's request: its files, and its character's face as it is now."""
        image = await self.repo.media_path(job.input_media) if job.input_media else None
        mask = await self.repo.media_path(job.mask_media) if job.mask_media else None
        identity = None
        if job.params.face is not None:
            if job.character_id is None:  # deleted meanwhile: the column was SET NULL
                raise CharacterGone()
            if self.identity_for is None:
                raise FaceLockUnavailable()
            identity = await self.identity_for(job.user_id, job.character_id)
        return GenerationRequest(job.params, image, mask, identity)

    async def _settle(self) -> None:
        """Write the held outcomes, oldest job first. A transient failure (the database is locked
        elsewhere) raises to be tried again after the backoff; a lasting one degrades the write —
        results that cannot be stored fail the job with a message, a job that cannot even be failed
        is given back to the queue — and tries that at once. An outcome stays held until written."""
        while self._unsettled:
            outcome = self._unsettled[min(self._unsettled)]
            try:
                job = await self._write(outcome)
            except Exception as exc:
                following = outcome.after(exc)
                if following is outcome:
                    raise
                log.error(
                    "could not store job %d as %s; storing it as %s instead",
                    outcome.job.id,
                    outcome.write.value,
                    following.write.value,
                    exc_info=exc,
                )
                self._unsettled[outcome.job.id] = following
                continue
            del self._unsettled[outcome.job.id]
            if job is None:
                log.warning("job %d vanished before its outcome was stored", outcome.job.id)
            elif job.status is JobStatus.QUEUED:
                self._wake.set()
            else:
                self._notify("job_finished", job, outcome.result if job.status is JobStatus.DONE else None)

    async def _write(self, outcome: _Outcome) -> Job | None:
        """The row as stored; when the job had already left 'running' (cancelled meanwhile, or
        written by an earlier try whose answer was lost), the row as it is."""
        job_id = outcome.job.id
        row: Job | None
        if outcome.write is _Write.DONE:
            assert outcome.result is not None
            result = outcome.result
            row = await self.repo.mark_done(
                job_id,
                [OutputData(c.png, c.seed, c.width, c.height, c.identity, c.nsfw) for c in result.candidates],
                result.seconds,
                result.warnings,
                tries=result.tries,
                structure=result.structure,
                suggestions=result.suggestions,
            )
        elif outcome.write is _Write.FAILED:
            row = await self.repo.mark_failed(job_id, outcome.error or "", outcome.code)
        elif outcome.write is _Write.CANCELLED:
            row = await self.repo.mark_cancelled(job_id)
        else:
            row = await self.repo.requeue_running(job_id, outcome.error or _INTERRUPTED)
        return row if row is not None else await self.repo.get(job_id)

    def _down(self, reason: str) -> None:
        if self._health is None or self._health.reason != reason:
            log.warning("the worker is down: %s", reason)
        self._health = Health.down(reason, self._health)

    def _up(self) -> None:
        self._backoff.reset()
        if self._health is not None:
            log.warning("the worker is back (down since %s: %s)", self._health.since, self._health.reason)
            self._health = None

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


def _unexpected(job: Job) -> str:
    return f"something went wrong while generating (job {job.id}); the bot's log has the details"
