"""The fair pick (round-robin over users) and fair_order() agreeing with it exactly."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from storage import Database, JobRepository, JobStatus, MediaStore, OutputData
from tests.storage.helpers import FakeClock, add, repository

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def claim_all(repo: JobRepository) -> list[tuple[int, int]]:
    """(user, job id) of every claim until the queue is empty."""
    order = []
    while (job := await repo.claim_next()) is not None:
        order.append((job.user_id, job.id))
    return order


def users(order: list[tuple[int, int]]) -> list[int]:
    return [user for user, _ in order]


async def test_a_single_job_waits_behind_at_most_one_job(repo: JobRepository) -> None:
    for _ in range(10):
        await add(repo, 1)
    await add(repo, 2)
    assert users(await claim_all(repo)) == [1, 2] + [1] * 9


async def test_a_late_job_goes_next_even_while_another_user_is_running(repo: JobRepository) -> None:
    for _ in range(10):
        await add(repo, 1)
    assert (await repo.claim_next()).user_id == 1
    await add(repo, 2)
    assert users(await claim_all(repo)) == [2] + [1] * 9


async def test_three_users_interleave(repo: JobRepository) -> None:
    for user in (1, 2, 3):
        for _ in range(4):
            await add(repo, user)
    order = await claim_all(repo)
    assert users(order) == [1, 2, 3] * 4
    for user in (1, 2, 3):  # each user's own jobs stay in submission order
        ids = [job_id for u, job_id in order if u == user]
        assert ids == sorted(ids)


async def test_a_recently_served_user_goes_after_a_never_served_one(repo: JobRepository) -> None:
    await add(repo, 1)
    assert (await repo.claim_next()).user_id == 1
    early = await add(repo, 1)  # lower id …
    late = await add(repo, 2)  # … but user 2 has never been served
    assert [job_id for _, job_id in await claim_all(repo)] == [late.id, early.id]


async def test_least_recently_served_goes_first(repo: JobRepository) -> None:
    for user in (1, 2, 3):
        await add(repo, user)
    assert users(await claim_all(repo)) == [1, 2, 3]
    for user in (3, 2, 1):  # submitted in reverse, but 1 was served longest ago
        await add(repo, user)
    assert users(await claim_all(repo)) == [1, 2, 3]


async def test_serve_order_survives_a_restart(db_path: Path, media: MediaStore, clock: FakeClock) -> None:
    async with await Database.open(db_path) as db:
        repo = repository(db, media, clock=clock)
        for user in (1, 2):
            await add(repo, user)
        assert users(await claim_all(repo)) == [1, 2]
        await add(repo, 2)
        await add(repo, 1)
    async with await Database.open(db_path) as db:
        repo = repository(db, media, clock=clock)
        assert users(await claim_all(repo)) == [1, 2]


async def test_fair_order_positions(repo: JobRepository) -> None:
    for user in (1, 1, 1, 2, 3, 3):
        await add(repo, user)
    running = await repo.claim_next()
    order = await repo.fair_order()
    assert order[0].job_id == running.id and (order[0].status, order[0].position) == (JobStatus.RUNNING, 0)
    assert [e.position for e in order[1:]] == [1, 2, 3, 4, 5]
    assert [e.user_id for e in order[1:]] == [2, 3, 1, 3, 1]
    assert all(e.status is JobStatus.QUEUED for e in order[1:])


@pytest.mark.parametrize("seed", range(8))
async def test_fair_order_matches_claim_order(repo: JobRepository, seed: int) -> None:
    """Random arrivals, claims, completions and cancels; at every step the whole predicted order
    must equal what claim_next then does."""
    rng = random.Random(seed)
    user_ids = list(range(1, rng.randint(2, 7) + 1))
    running: int | None = None
    for _step in range(rng.randint(3, 6)):
        # A burst of arrivals with uneven counts per user, interleaved.
        for _ in range(rng.randint(1, 15)):
            await add(repo, rng.choice(user_ids[: rng.randint(1, len(user_ids))]))
        queued = [e for e in await repo.fair_order() if e.status is JobStatus.QUEUED]
        if queued and rng.random() < 0.3:  # an owner cancels something
            victim = rng.choice(queued)
            await repo.cancel(victim.job_id, victim.user_id)
        # Finish the running job, then claim some (not all) jobs, checking each against the plan.
        if running is not None:
            await repo.mark_done(running, [OutputData(b"%d" % running, 1, 8, 8)], 1.0)
            running = None
        predicted = await repo.fair_order()
        assert [e.position for e in predicted] == list(range(1, len(predicted) + 1))
        for expected in predicted[: rng.randint(0, len(predicted))]:
            if running is not None:
                await repo.mark_done(running, [OutputData(b"%d" % running, 1, 8, 8)], 1.0)
            job = await repo.claim_next()
            assert job is not None and (job.id, job.user_id) == (expected.job_id, expected.user_id)
            running = job.id
    # Drain: the full remaining prediction equals the claim sequence.
    predicted = [e.job_id for e in await repo.fair_order() if e.status is JobStatus.QUEUED]
    assert [job_id for _, job_id in await claim_all(repo)] == predicted
