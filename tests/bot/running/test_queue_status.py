"""What /queue says with several GPU workers: the wait is shared by the ready ones, and a worker that
does not take jobs is named with its reason."""

from __future__ import annotations

from bot.running.queue import QueueStatus
from bot.running.runners import WorkerState
from cogs.queue import workers_text
from storage import JobStatus, QueueEntry


def status(*workers: WorkerState) -> QueueStatus:
    entries = tuple(QueueEntry(i, 1, JobStatus.QUEUED, i) for i in range(1, 5))
    return QueueStatus(entries, len(entries), 10.0, None, workers)


def test_the_wait_is_shared_by_the_ready_workers() -> None:
    one = status(WorkerState("local", True))
    two = status(WorkerState("a", True), WorkerState("b", True))
    two_one_broken = status(WorkerState("a", True), WorkerState("b", False, error="no model"))
    entry = one.entries[3]  # position 4
    assert one.wait_seconds(entry) == 35.0
    assert two.wait_seconds(entry) == 17.5
    assert two_one_broken.wait_seconds(entry) == 35.0


def test_one_healthy_local_worker_adds_nothing() -> None:
    assert workers_text((WorkerState("local", True),)) == []


def test_several_workers_are_counted_and_a_broken_one_says_why() -> None:
    lines = workers_text(
        (
            WorkerState("gpu-box-1:311", True, busy=True),
            WorkerState("gpu-box-2:97", True),
            WorkerState("ray-2", False, error="model folder /models/x is missing"),
        )
    )
    assert lines[0] == "GPU workers: 2 of 3 ready, 1 busy."
    assert lines[1:] == ["• ray-2: model folder /models/x is missing"]
