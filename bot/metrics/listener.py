"""The queue's events as counters and histograms: a ``JobListener`` like the Discord delivery cog.

Times come from the job's stored timestamps (created, started, finished), so a job recovered after
a restart is measured like any other; the counters themselves start from zero in each process, as
Prometheus' ``rate()`` expects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.jobs import GenerationResult
from bot.metrics.labels import Source
from bot.running.queue import Job, Ticket
from storage import JobStatus

if TYPE_CHECKING:
    from bot.metrics.registry import Metrics


class JobMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def job_queued(self, ticket: Ticket) -> None:
        job = ticket.job
        self.metrics.jobs_submitted.labels(job.params.mode.value, Source.of(job).value).inc()

    async def job_started(self, job: Job) -> None:
        if job.started_at is not None:
            self.metrics.queue_wait.observe(max(0.0, job.started_at - job.created_at))

    async def job_progress(self, job: Job, step: int, total: int) -> None:
        return None

    async def job_finished(self, job: Job, result: GenerationResult | None) -> None:
        if not job.status.finished:
            return
        m, mode, outcome = self.metrics, job.params.mode.value, job.status.value
        m.jobs_finished.labels(mode, outcome, Source.of(job).value).inc()
        if job.started_at is not None and job.finished_at is not None:  # a job cancelled queued never ran
            m.job_duration.labels(mode, outcome).observe(max(0.0, job.finished_at - job.started_at))
        if result is None or job.status is not JobStatus.DONE:
            return
        m.candidates.labels(mode).inc(len(result.candidates))
        m.rounds.labels(mode).inc(result.tries)
        for candidate in result.candidates:
            if candidate.identity is not None:  # scored: a face-locked job's candidate with a face
                m.identity.observe(candidate.identity)
