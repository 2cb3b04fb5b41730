"""Upload decodes on their own few threads, so their memory is bounded before any queue slot.

An upload is decoded and cleaned (``bot.engine.uploads``) before its job row exists, so the queue's
limits do not bound it; on the default thread pool, as many could run at once as that pool has
threads, and Discord's media reads would wait behind them. Each decode of a worst-case 40 MP picture
holds about 310 MB at its peak (``docs/benchmarks.md``), so the process holds at most ``workers``
times that. The policy past them: up to ``waiting`` more wait up to ``wait`` seconds for a thread
(each holding only its upload's bytes); beyond that room, or after that wait, ``Busy`` (the API's
503 with Retry-After, Discord's "busy, try again"). Nothing is stored for a refused upload.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from bot.errors import Busy

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

WAIT = 10.0  # seconds an upload may wait for a free decode thread
RETRY_AFTER = 5  # seconds a refused client is told to wait


class DecodePool:
    def __init__(self, workers: int = 2, *, waiting: int | None = None, wait: float = WAIT) -> None:
        """``waiting``: how many may wait for a thread (default twice ``workers``)."""
        self.workers = workers
        self.waiting = 2 * workers if waiting is None else waiting
        self.wait = wait
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="likeness-decode")
        self._slots = asyncio.Semaphore(workers)
        self._waiters = 0

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a decode thread; ``Busy`` when none is free in time."""
        await self._acquire()
        loop = asyncio.get_running_loop()
        try:
            future = self._executor.submit(functools.partial(fn, *args, **kwargs))
        except BaseException:
            self._slots.release()
            raise
        # The slot is free when the thread is: a caller that gives up (a client gone) does not free
        # it while its decode still runs.
        future.add_done_callback(lambda _: _call_soon(loop, self._slots.release))
        return await asyncio.wrap_future(future)

    async def _acquire(self) -> None:
        if self._slots.locked() and self._waiters >= self.waiting:
            raise Busy(RETRY_AFTER)
        self._waiters += 1
        try:
            async with asyncio.timeout(self.wait):
                await self._slots.acquire()
        except TimeoutError:
            log.info("an upload waited %.0f s for a decode thread: refused as busy", self.wait)
            raise Busy(RETRY_AFTER) from None
        finally:
            self._waiters -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits for the slot
        loop.call_soon_threadsafe(callback)
