"""JobRepository for the dispatcher's fault handling and for delivery: giving a running job back to
the queue, redelivery order, and forgetting interaction tokens."""

from __future__ import annotations

import pytest

from storage import JobRepository, JobStatus
from tests.storage.helpers import FakeClock, add

pytestmark = pytest.mark.asyncio(loop_scope="session")

GAVE_UP = "the bot could not save the results: its disk is full"


async def claim(repo: JobRepository, job_id: int) -> None:
    claimed = await repo.claim_next()
    assert claimed is not None and claimed.id == job_id


async def test_requeue_running_gives_the_job_back_with_its_turn(repo: JobRepository) -> None:
    first = await add(repo, 1)
    await add(repo, 2)  # another user waits; user 1 was just served
    await claim(repo, first.id)

    again = await repo.requeue_running(first.id, GAVE_UP)
    assert again is not None and again.status is JobStatus.QUEUED
    assert (again.error, again.started_at, again.finished_at, again.attempts) == (None, None, None, 1)
    # Still the owner's turn: the job is claimed before user 2's.
    await claim(repo, first.id)
    assert (await repo.get(first.id)).attempts == 2  # type: ignore[union-attr]


async def test_requeue_running_fails_the_job_after_max_attempts(
    repo: JobRepository, clock: FakeClock
) -> None:
    job = await add(repo, 1)
    await claim(repo, job.id)
    await repo.requeue_running(job.id, GAVE_UP)
    await claim(repo, job.id)

    clock.advance(5)
    failed = await repo.requeue_running(job.id, GAVE_UP)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert (failed.error, failed.finished_at, failed.attempts) == (GAVE_UP, clock(), 2)
    assert [j.id for j in await repo.undelivered()] == [job.id]  # its owner is told


async def test_requeue_running_cancels_a_job_its_owner_cancelled(repo: JobRepository) -> None:
    job = await add(repo, 1)
    await claim(repo, job.id)
    await repo.cancel(job.id, 1)

    cancelled = await repo.requeue_running(job.id, GAVE_UP)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED and cancelled.error is None
    assert await repo.claim_next() is None


async def test_requeue_running_leaves_other_jobs_alone(repo: JobRepository) -> None:
    queued = await add(repo, 1)
    assert await repo.requeue_running(queued.id, GAVE_UP) is None
    assert await repo.requeue_running(999, GAVE_UP) is None
    assert (await repo.get(queued.id)).status is JobStatus.QUEUED  # type: ignore[union-attr]


async def test_undelivered_newest_first_with_a_limit(repo: JobRepository) -> None:
    ids = []
    for user in (1, 2, 3):
        job = await add(repo, user)
        await claim(repo, job.id)
        await repo.mark_done(job.id, [], 1.0)
        ids.append(job.id)
    assert [j.id for j in await repo.undelivered()] == ids[::-1]
    assert [j.id for j in await repo.undelivered(2)] == ids[:0:-1]


async def test_tokens_are_forgotten_once_the_message_is_final(repo: JobRepository) -> None:
    delivered = await add(repo, 1, interaction_token="delivered-token", application_id=3)
    cancelled = await add(repo, 2, interaction_token="cancelled-token", application_id=3)
    waiting = await add(repo, 3, interaction_token="waiting-token", application_id=3)
    await claim(repo, delivered.id)
    await repo.mark_done(delivered.id, [], 1.0)
    await repo.cancel(cancelled.id, 2)

    assert await repo.set_delivery(delivered.id, 10, 20)
    assert await repo.forget_token(cancelled.id)
    assert not await repo.forget_token(999)
    rows = [await repo.get(job.id) for job in (delivered, cancelled, waiting)]
    tokens = {j.id: j.interaction_token for j in rows if j is not None}
    assert tokens == {delivered.id: None, cancelled.id: None, waiting.id: "waiting-token"}
