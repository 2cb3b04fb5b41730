"""Each user's work in flight on the GPU thread, under one per-user limit.

Jobs waiting or running are counted in the database; face analyses (``/character add``, Fix face)
never enter the queue, so they are counted here while they wait for or run on the worker. A user's
jobs plus analyses never exceed ``per_user_limit``: checking and taking a slot happen under the
user's lock, which ``JobQueue.submit`` holds too while it inserts a job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

from storage import QueueFull

ActiveJobs = Callable[[int], Awaitable[int]]  # user id -> jobs waiting or running


class WorkInFlight:
    def __init__(self, per_user_limit: int, active_jobs: ActiveJobs) -> None:
        self.per_user_limit = per_user_limit
        self._active_jobs = active_jobs
        self._analyses: Counter[int] = Counter()
        self._locks: dict[int, asyncio.Lock] = {}

    def analyses(self, user_id: int) -> int:
        """Face analyses of this user waiting for or running on the worker."""
        return self._analyses[user_id]

    def lock(self, user_id: int) -> asyncio.Lock:
        """Held while a slot is checked and taken (an analysis here, a job insert in the queue)."""
        return self._locks.setdefault(user_id, asyncio.Lock())

    async def check(self, user_id: int) -> None:
        """Cheap: ``QueueFull`` when one more analysis would be refused, before anything is fetched
        or stored for it."""
        async with self.lock(user_id):
            await self._check(user_id)

    async def _check(self, user_id: int) -> None:
        jobs = await self._active_jobs(user_id)
        analyses = self._analyses[user_id]
        if jobs + analyses >= self.per_user_limit:
            raise QueueFull("user", self.per_user_limit, jobs, analyses)

    @contextlib.asynccontextmanager
    async def analysis(self, user_id: int) -> AsyncIterator[None]:
        """One face analysis for ``user_id``; ``QueueFull`` when their work in flight is at the limit."""
        async with self.lock(user_id):
            await self._check(user_id)
            self._analyses[user_id] += 1
        try:
            yield
        finally:
            self._analyses[user_id] -= 1
            if self._analyses[user_id] <= 0:
                del self._analyses[user_id]
