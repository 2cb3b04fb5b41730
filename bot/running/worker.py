"""The GPU worker: one thread owns the face analyzer and the engine; the event loop only awaits it.

Both are loaded on that thread (CUDA contexts are per thread), the analyzer first because the engine
scores face-locked candidates with it. Like aiosqlite's connection thread, results and progress
cross back to the loop with ``call_soon_threadsafe``, so the gateway heartbeat keeps flowing while a
job denoises.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bot.engine.checks import Capabilities
from bot.engine.config import EngineConfig
from bot.engine.downloads import DEFAULT_FACE_PACK_URL, ensure_face_pack
from bot.engine.engine import Engine
from bot.engine.faces.factory import FaceConfig
from bot.engine.faces.types import FaceAnalyzer
from bot.jobs import GenerationRequest, GenerationResult
from bot.running.runners import ProgressHandler, WorkerState

log = logging.getLogger(__name__)

T = TypeVar("T")


class GpuWorker:
    """Runs model calls on a single dedicated thread, one at a time, in the order they come.

    ``engine`` and ``faces`` say what to load; either may be None (``recompute-faces`` needs no
    diffusion model, a bot without face analysis no analyzer). As a ``JobRunner`` it has one slot."""

    slots = 1

    def __init__(
        self,
        engine: EngineConfig | None = None,
        faces: FaceConfig | None = None,
        *,
        face_pack_url: str = DEFAULT_FACE_PACK_URL,
        face_pack_sha256: str | None = None,
        offline: bool = False,
    ) -> None:
        """A missing insightface pack is downloaded from ``face_pack_url`` first, unless ``offline``
        (checked against ``face_pack_sha256``, else the pin of a known pack)."""
        self.engine_config = engine
        self.face_config = faces
        self.face_pack_url = face_pack_url
        self.face_pack_sha256 = face_pack_sha256
        self.offline = offline
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="likeness-gpu")
        self._engine: Engine | None = None
        self._analyzer: FaceAnalyzer | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the engine is not loaded yet")
        return self._engine

    @property
    def face_analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            raise RuntimeError("face analysis is not loaded")
        return self._analyzer

    @property
    def capabilities(self) -> Capabilities:
        """The loaded engine's; before it loads, what its configuration says (no family yet)."""
        if self._engine is not None:
            return self._engine.capabilities
        assert self.engine_config is not None, "no engine is configured"
        return Capabilities.of(self.engine_config)

    @property
    def loaded(self) -> bool:
        """Whether the engine is loaded (the dispatcher loads it again until it is)."""
        return self._engine is not None

    async def load_faces(self) -> FaceAnalyzer:
        """The face analyzer, loaded once; a missing pack raises ``ModelUnavailable`` saying where it goes."""
        if self._analyzer is None:
            if self.face_config is None:
                raise RuntimeError("no face backend is configured")
            await self.call(
                ensure_face_pack, self.face_config, self.face_pack_url, self.offline, self.face_pack_sha256
            )
            started = time.perf_counter()
            self._analyzer = await self.call(self.face_config.load)
            providers = getattr(self._analyzer, "providers", None) or ("CPU",)
            log.info(
                "face analysis %s: %d-d embeddings on %s, loaded in %.1f s",
                self._analyzer.backend,
                self._analyzer.dim,
                ",".join(p.removesuffix("ExecutionProvider") for p in providers),
                time.perf_counter() - started,
            )
        return self._analyzer

    def use_faces(self, analyzer: FaceAnalyzer) -> None:
        """Analyse faces with ``analyzer`` (the Ray workers') instead of loading one here."""
        self._analyzer = analyzer

    async def load(self) -> Engine:
        """The face analyzer (when configured), then the diffusion weights, once."""
        if self._engine is None:
            if self.engine_config is None:
                raise RuntimeError("no engine is configured")
            analyzer = await self.load_faces() if self.face_config is not None else None
            self._engine = await self.call(Engine.load, self.engine_config, analyzer)
        return self._engine

    async def generate(
        self, request: GenerationRequest, on_progress: ProgressHandler | None, cancel: threading.Event
    ) -> GenerationResult:
        loop = asyncio.get_running_loop()
        engine = self.engine

        def progress(step: int, total: int) -> None:
            if on_progress is not None:
                loop.call_soon_threadsafe(on_progress, step, total)

        return await self.call(engine.generate, request, progress, cancel)

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run model work (face analysis, loading) on the worker thread, in queue order."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def states(self) -> list[WorkerState]:
        return [WorkerState("local", self.loaded)]

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
