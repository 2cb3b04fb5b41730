"""The GPU worker: one thread owns the engine; the event loop only awaits it.

Like aiosqlite's connection thread, results and progress cross back to the loop with
``call_soon_threadsafe``, so the gateway heartbeat keeps flowing while a job denoises.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot.engine.engine import Engine
from bot.jobs import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

ProgressHandler = Callable[[int, int], None]


class GpuWorker:
    """Runs engine calls on a single dedicated thread, one at a time."""

    def __init__(self, engine_factory: Callable[[], Engine]) -> None:
        self._factory = engine_factory
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="likeness-gpu")
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the engine is not loaded yet")
        return self._engine

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    async def load(self) -> Engine:
        """Load the weights on the worker thread itself (CUDA contexts are per thread)."""
        if self._engine is None:
            loop = asyncio.get_running_loop()
            self._engine = await loop.run_in_executor(self._executor, self._factory)
        return self._engine

    async def generate(
        self, request: GenerationRequest, on_progress: ProgressHandler | None, cancel: threading.Event
    ) -> GenerationResult:
        loop = asyncio.get_running_loop()
        engine = self.engine

        def progress(step: int, total: int) -> None:
            if on_progress is not None:
                loop.call_soon_threadsafe(on_progress, step, total)

        return await loop.run_in_executor(self._executor, engine.generate, request, progress, cancel)

    async def call(self, fn: Callable[..., object], *args: object) -> object:
        """Run other GPU work (face analysis, warm-up) on the same thread, in queue order."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
