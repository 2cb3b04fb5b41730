"""Retrying deliveries that failed: a pass every ``REDELIVER_INTERVAL`` over undelivered results,
newest first, at most ``REDELIVER_BATCH`` per pass (a result that can never be posted sinks below
newer ones instead of blocking them). Failures are logged; the loop only ends when cancelled.

A plain module rather than part of the Delivery extension: discord.py executes an extension
afresh on every load, so only here can the pace be set before the cog starts (tests do).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.params import JobParams
from bot.running.queue import Job
from storage import JobRepository

log = logging.getLogger(__name__)

REDELIVER_INTERVAL = 60.0  # seconds between passes
REDELIVER_BATCH = 20  # results tried per pass


async def redeliver_once(jobs: JobRepository[JobParams], deliver: Callable[[Job], Awaitable[None]]) -> None:
    """One pass; one failing job does not stop the others."""
    for job in await jobs.undelivered(REDELIVER_BATCH):
        try:
            await deliver(job)
        except Exception:
            log.exception("redelivering job %d failed", job.id)


async def redeliver_forever(
    jobs: JobRepository[JobParams],
    deliver: Callable[[Job], Awaitable[None]],
    ready: Callable[[], Awaitable[None]],
) -> None:
    """The first pass once ``ready`` returns (results that finished while the bot was down), then
    one every ``REDELIVER_INTERVAL``."""
    await ready()
    while True:
        try:
            await redeliver_once(jobs, deliver)
        except Exception:
            log.exception("a redelivery pass failed")
        await asyncio.sleep(REDELIVER_INTERVAL)
