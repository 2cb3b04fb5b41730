"""The fair queue with two models and three users, on the real worker and the tiny models: within a
round the loaded model's jobs go first, the claims follow the forecast /queue shows, every user is
served once per round, and the swaps are fewer than plain round-robin would make."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from bot.app.services import Services
from bot.app.settings import load_settings
from bot.params import JobParams
from bot.tiny import TinyBundle
from storage import JobStatus, NewJob

pytestmark = pytest.mark.asyncio(loop_scope="session")

SD15, SDXL = "tiny-sd15", "tiny-sdxl"
# Each user's three jobs, queued in this order: plain round-robin would swap at every other job.
WANTS = {1: (SD15, SD15, SD15), 2: (SDXL, SDXL, SDXL), 3: (SD15, SDXL, SD15)}


async def test_two_models_three_users(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    settings = load_settings(tiny_bundle.models_env, data_dir=data_dir, discord_token="x")
    services = await Services.open(settings)
    try:
        await services.load_models()  # the default, tiny-sd15, is loaded at start
        queue = services.queue
        for round_ in range(3):
            for user, models in WANTS.items():
                params = JobParams(
                    prompt=f"job {round_} of {user}", steps=2, cfg=7.0, seed=round_, model=models[round_]
                )
                await queue.submit(NewJob(user_id=user, params=params))
        forecast = [e.job_id for e in (await queue.status()).entries]
        await queue.start()
        async with asyncio.timeout(300):
            while any(j.status is not JobStatus.DONE for j in await _jobs(services)):
                await asyncio.sleep(0.1)
        done = sorted(await _jobs(services), key=lambda j: (j.started_at, j.id))
        loads = services.worker.shelf.loads
    finally:
        await services.close()

    claimed = [(j.user_id, j.params.model) for j in done]
    assert [j.id for j in done] == forecast  # /queue's positions were the real order
    # Round 1 on the loaded sd15 first (users 1, 3), then sdxl (user 2); round 2 starts on sdxl …
    assert claimed == [
        (1, SD15), (3, SD15), (2, SDXL),
        (3, SDXL), (2, SDXL), (1, SD15),
        (3, SD15), (1, SD15), (2, SDXL),
    ]  # fmt: skip
    swaps = sum(a[1] != b[1] for a, b in itertools.pairwise(claimed))
    plain = [(u, WANTS[u][r]) for r in range(3) for u in (1, 2, 3)]
    assert swaps == 3 < sum(a[1] != b[1] for a, b in itertools.pairwise(plain)) == 6
    assert loads == 1 + swaps  # each swap loaded the other model once (a cache of one)
    for user in WANTS:  # once per round each
        turns = [i // 3 for i, (u, _) in enumerate(claimed) if u == user]
        assert turns == [0, 1, 2]


async def _jobs(services: Services) -> list:  # type: ignore[type-arg]
    return (
        await services.jobs.user_jobs(1) + await services.jobs.user_jobs(2) + await services.jobs.user_jobs(3)
    )
