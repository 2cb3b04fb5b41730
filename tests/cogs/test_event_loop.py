"""The event loop never blocks on a job: the gateway heartbeat keeps its pace while the engine works."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from bot.tiny import TinyBundle
from tests.cogs.harness import bot_settings, generate, jobs, result_message, running_bot
from tests.fakediscord import FakeDiscord

INTERVAL = 0.05


@pytest.mark.parametrize("fake_discord_options", [{"heartbeat_interval": INTERVAL}])
async def test_heartbeats_flow_while_a_job_runs(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, fake_discord_options: dict[str, Any]
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        await fake.wait_heartbeats(3)
        started = time.monotonic()
        # Real denoising on the worker thread (no artificial delay): 30 steps × 2 candidates, then
        # PNG encoding, storing, and the multipart upload.
        inter = await generate(fake, None, "a busy harbour", steps=30, candidates=2)
        await result_message(inter)
        finished = time.monotonic()
        [job] = await jobs(bot)

        # The instrument works: blocking the loop for 0.4 s shows up as one long gap.
        time.sleep(0.4)
        blocked_at = time.monotonic()
        await fake.wait_for(lambda: fake.heartbeats[-1] > blocked_at)

    assert job.engine_seconds is not None
    during = [b for b in fake.heartbeats if started <= b <= finished]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert len(during) >= (finished - started) / INTERVAL / 2, (len(during), finished - started)
    # Generating on the loop would leave one gap as long as the engine's work; there is none.
    assert max(gaps) < min(10 * INTERVAL, job.engine_seconds / 2), (sorted(gaps)[-3:], job.engine_seconds)
    assert max(fake.heartbeat_gaps(since=finished)) >= 0.35
