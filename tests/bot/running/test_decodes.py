"""The decode pool: at most ``workers`` decodes at once; a few wait for a thread, the rest are busy."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bot.errors import Busy
from bot.running.decodes import RETRY_AFTER, DecodePool


class Decodes:
    """A stand-in decode that blocks until released, and counts how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.done = 0

    def __call__(self, value: int) -> int:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.release.wait(10)
            return value
        finally:
            with self._lock:
                self.running -= 1
                self.done += 1

    async def wait_running(self, count: int) -> None:
        async with asyncio.timeout(5):
            while self.running < count:
                await asyncio.sleep(0.01)


async def test_twenty_at_once_on_two_threads_run_two_at_a_time_and_refuse_past_the_waiting_room() -> None:
    pool = DecodePool(2, waiting=4, wait=5)
    decode = Decodes()
    try:
        calls = [asyncio.create_task(pool.run(decode, i)) for i in range(20)]
        await decode.wait_running(2)
        await asyncio.sleep(0.1)  # the six that fit are running or waiting; the others are refused
        refused = [c for c in calls if c.done()]
        assert len(refused) == 14
        assert all(isinstance(c.exception(), Busy) for c in refused)
        assert refused[0].exception().retry_after == RETRY_AFTER  # type: ignore[union-attr]
        decode.release.set()
        results = await asyncio.gather(*(c for c in calls if c not in refused))
        assert sorted(results) == list(range(6))  # the first six came in first
        assert decode.most == 2 and decode.done == 6
    finally:
        decode.release.set()
        pool.shutdown()


async def test_a_waiting_decode_is_refused_after_the_wait() -> None:
    pool = DecodePool(1, waiting=1, wait=0.2)
    decode = Decodes()
    try:
        first = asyncio.create_task(pool.run(decode, 1))
        await decode.wait_running(1)
        started = time.monotonic()
        with pytest.raises(Busy, match="busy reading other people's images"):
            await pool.run(decode, 2)
        assert time.monotonic() - started >= 0.2
        decode.release.set()
        assert await first == 1
        assert await pool.run(decode, 3) == 3  # the thread is free again
    finally:
        decode.release.set()
        pool.shutdown()


async def test_a_caller_that_gives_up_keeps_its_thread_until_the_decode_ends() -> None:
    """A client gone does not free the slot while its decode still runs: at most one at a time."""
    pool = DecodePool(1, waiting=2, wait=5)
    decode = Decodes()
    try:
        gone = asyncio.create_task(pool.run(decode, 1))
        await decode.wait_running(1)
        gone.cancel()
        after = asyncio.create_task(pool.run(decode, 2))
        await asyncio.sleep(0.1)
        assert not after.done() and decode.running == 1
        decode.release.set()
        assert await after == 2
        assert decode.most == 1
    finally:
        decode.release.set()
        pool.shutdown()
