"""The gauges, read from the queue at each scrape rather than kept from events: what a scrape shows
is what the queue holds now, also right after a restart (jobs recovered from the database, a worker
that died while nobody was watching).

prometheus_client collects on the scraping thread (``start_http_server``'s, or the thread the API
route hands the exposition to), while the queue lives on the event loop: the state is read there
with ``run_coroutine_threadsafe``, within ``READ_TIMEOUT``. A scrape that cannot read it (a locked
database, a loop blocked) leaves the gauges out and says so in ``likeness_queue_state_ok``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.running.queue import JobQueue, QueueStatus
from storage import JobStatus

log = logging.getLogger(__name__)

READ_TIMEOUT = 5.0  # seconds a scrape waits for the queue's state (Prometheus' default timeout is 10)


@dataclass(frozen=True, slots=True)
class _State:
    status: QueueStatus
    model_loaded: bool


class QueueState(Collector):
    def __init__(self, queue: JobQueue, loop: asyncio.AbstractEventLoop) -> None:
        self.queue = queue
        self.loop = loop

    def describe(self) -> Iterator[Metric]:
        """The names alone: registering reads nothing (and a name taken twice still fails)."""
        yield from _families(None)

    def collect(self) -> Iterator[Metric]:
        yield from _families(self._read())

    def _read(self) -> _State | None:
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # waiting here for the loop would block the loop: a caller's bug
            log.error("metrics were collected on the event loop; collect them in a thread")
            return None
        try:
            future = asyncio.run_coroutine_threadsafe(self._state(), self.loop)
        except RuntimeError:  # the loop is closed: the bot is stopping
            return None
        try:
            return future.result(READ_TIMEOUT)
        except TimeoutError:
            future.cancel()
            log.warning("metrics: the queue's state took over %.0f s to read; gauges left out", READ_TIMEOUT)
        except Exception:
            log.exception("metrics: the queue's state could not be read; gauges left out")
        return None

    async def _state(self) -> _State:
        return _State(await self.queue.status(), self.queue.worker.loaded)


def _families(state: _State | None) -> Iterator[Metric]:
    ok = GaugeMetricFamily("likeness_queue_state_ok", "1 when this scrape read the queue's state (else 0).")
    ok.add_metric([], 0 if state is None else 1)
    yield ok
    jobs = GaugeMetricFamily("likeness_queue_jobs", "Jobs waiting or running now.", labels=["state"])
    users = GaugeMetricFamily("likeness_queue_users", "Users with jobs waiting or running now.")
    workers = GaugeMetricFamily("likeness_workers", "Workers jobs run on (one local, or the Ray workers).")
    ready = GaugeMetricFamily("likeness_workers_ready", "Workers that take jobs now.")
    busy = GaugeMetricFamily("likeness_workers_busy", "Workers running a job now.")
    up = GaugeMetricFamily("likeness_dispatcher_up", "1 while the dispatcher takes jobs; 0 while it is down.")
    loaded = GaugeMetricFamily("likeness_model_loaded", "1 once the models are loaded.")
    if state is not None:
        status = state.status
        for kind in (JobStatus.QUEUED, JobStatus.RUNNING):
            jobs.add_metric([kind.value], sum(1 for e in status.entries if e.status is kind))
        users.add_metric([], len({e.user_id for e in status.entries}))
        workers.add_metric([], len(status.workers))
        ready.add_metric([], sum(1 for w in status.workers if w.ready))
        busy.add_metric([], sum(1 for w in status.workers if w.busy))
        up.add_metric([], 1 if status.health is None else 0)
        loaded.add_metric([], 1 if state.model_loaded else 0)
    yield from (jobs, users, workers, ready, busy, up, loaded)
