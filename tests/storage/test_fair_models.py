"""The fair pick with several models: within a round the loaded model's jobs go first, every user is
still served once per round, and ``fair_order`` forecasts the claims exactly."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage import Database, JobRepository, MediaStore
from tests.storage.helpers import add, repository

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def run_all(repo: JobRepository, warm: str | None, default: str = "a") -> list[tuple[int, str]]:
    """Claim until empty as one worker holding one model would: (user, model) of each claim."""
    order = []
    loaded = [warm] if warm else []
    while (job := await repo.claim_next(loaded, default)) is not None:
        model = job.params.model or default
        order.append((job.user_id, model))
        loaded = [model]
    return order


def swaps(order: list[tuple[int, str]], warm: str | None) -> int:
    models = [warm, *(m for _, m in order)] if warm else [m for _, m in order]
    return sum(1 for before, after in itertools.pairwise(models) if before != after)


async def test_the_loaded_models_jobs_go_first_within_the_round(repo: JobRepository) -> None:
    # Users 1–3 each want a, b, a: plain round-robin would swap at every job.
    for _ in range(3):
        for user, model in ((1, "a"), (2, "b"), (3, "a")):
            await add(repo, user, model=model)
    order = await run_all(repo, warm="a")
    # Round 1: a for users 1 and 3, then b for user 2; round 2 starts on b (loaded) …
    assert order == [(1, "a"), (3, "a"), (2, "b"), (2, "b"), (1, "a"), (3, "a"), (1, "a"), (3, "a"), (2, "b")]
    assert swaps(order, "a") == 3  # plain round-robin: 6


async def test_without_a_loaded_model_the_order_is_plain_round_robin(repo: JobRepository) -> None:
    for _ in range(2):
        for user, model in ((1, "a"), (2, "b"), (3, "a")):
            await add(repo, user, model=model)
    order = []
    while (job := await repo.claim_next([], "a")) is not None:  # nothing loaded: nothing preferred
        order.append(job.user_id)
    assert order == [1, 2, 3, 1, 2, 3]


async def test_a_job_naming_no_model_runs_on_the_default(repo: JobRepository) -> None:
    await add(repo, 1, model="b")
    await add(repo, 2)  # an older job: no model recorded
    job = await repo.claim_next(["a"], "a")
    assert job is not None and job.user_id == 2


async def test_the_round_survives_a_restart(db: Database, media: MediaStore) -> None:
    repo = repository(db, media)
    for user, model in ((1, "a"), (2, "b"), (3, "a"), (1, "a")):
        await add(repo, user, model=model)
    first = await repo.claim_next(["a"], "a")
    assert first is not None and first.user_id == 1
    again = repository(db, media)  # a new repository reads the round from the database
    second = await again.claim_next(["a"], "a")
    third = await again.claim_next(["a"], "a")
    # User 1 was served this round: its second a-job waits for user 2's b-job, as round-robin says.
    assert (second.user_id, third.user_id) == (3, 2)  # type: ignore[union-attr]


JOBS = st.lists(st.tuples(st.integers(1, 4), st.sampled_from("abc")), min_size=1, max_size=16)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(jobs=JOBS, warm=st.sampled_from(["a", "b", None]))
async def test_every_user_is_served_once_per_round_and_the_forecast_is_exact(
    db: Database, media: MediaStore, jobs: list[tuple[int, str]], warm: str | None
) -> None:
    await db.execute("DELETE FROM jobs")
    await db.execute("DELETE FROM user_last_served")
    await db.execute("UPDATE fair_round SET seq = 0")
    repo = repository(db, media)
    ids = {}
    for user, model in jobs:
        ids[(await add(repo, user, model=model)).id] = (user, model)
    forecast = [e.job_id for e in await repo.fair_order([warm] if warm else [], "a", keep=1)]
    claimed, loaded = [], [warm] if warm else []
    while (job := await repo.claim_next(loaded, "a")) is not None:
        claimed.append(job.id)
        loaded = [ids[job.id][1]]
    assert claimed == forecast
    # Each user's jobs in the order they were queued.
    for user in {u for u, _ in jobs}:
        mine = [i for i in claimed if ids[i][0] == user]
        assert mine == sorted(mine)
    # The bound: once a job is its user's next, at most 2 × (users - 1) jobs run before it.
    others = len({u for u, _ in jobs}) - 1
    for position, job_id in enumerate(claimed):
        user = ids[job_id][0]
        before = [p for p in range(position) if ids[claimed[p]][0] == user]
        since = before[-1] + 1 if before else 0
        assert position - since <= 2 * others, (claimed, job_id)
    # And between two turns of one user, no other user has more than two.
    for user in {u for u, _ in jobs}:
        turns = [p for p, i in enumerate(claimed) if ids[i][0] == user]
        for start, end in itertools.pairwise(turns):
            between = [ids[claimed[p]][0] for p in range(start + 1, end)]
            assert all(between.count(other) <= 2 for other in set(between))
