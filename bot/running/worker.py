"""The GPU worker: one thread owns the face analyzer and the models; the event loop only awaits it.

All are loaded on that thread (CUDA contexts are per thread), the analyzer first because the engines
score face-locked candidates with it; the default model at start, the others when a job first asks
for them (``bot.engine.shelf``), within the job's own run. Like aiosqlite's connection thread,
results and progress cross back to the loop with ``call_soon_threadsafe``, so the gateway heartbeat
keeps flowing while a job denoises.
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
from bot.engine.config import EngineConfig, ModelsConfig
from bot.engine.downloads import DEFAULT_FACE_PACK_URL, ensure_face_pack
from bot.engine.engine import Engine
from bot.engine.faces.factory import FaceConfig
from bot.engine.faces.types import FaceAnalyzer
from bot.engine.family import Family
from bot.engine.shelf import ModelShelf
from bot.jobs import GenerationRequest, GenerationResult
from bot.running.runners import ModelState, ProgressHandler, WorkerState

log = logging.getLogger(__name__)

T = TypeVar("T")


class GpuWorker:
    """Runs model calls on a single dedicated thread, one at a time, in the order they come.

    ``models`` and ``faces`` say what to load; either may be None (``recompute-faces`` needs no
    diffusion model, a bot without face analysis no analyzer); one ``EngineConfig`` is a set of one.
    As a ``JobRunner`` it has one slot."""

    slots = 1

    def __init__(
        self,
        models: ModelsConfig | EngineConfig | None = None,
        faces: FaceConfig | None = None,
        *,
        face_pack_url: str = DEFAULT_FACE_PACK_URL,
        face_pack_sha256: str | None = None,
        offline: bool = False,
    ) -> None:
        """A missing insightface pack is downloaded from ``face_pack_url`` first, unless ``offline``
        (checked against ``face_pack_sha256``, else the pin of a known pack)."""
        self.models_config = ModelsConfig.single(models) if isinstance(models, EngineConfig) else models
        self.face_config = faces
        self.face_pack_url = face_pack_url
        self.face_pack_sha256 = face_pack_sha256
        self.offline = offline
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="likeness-gpu")
        self._shelf: ModelShelf | None = None
        self._analyzer: FaceAnalyzer | None = None
        self._generating = 0  # jobs in generate(): busy in states() (/v1/health, the metrics)

    @property
    def models(self) -> ModelsConfig:
        if self.models_config is None:
            raise RuntimeError("no model is configured")
        return self.models_config

    @property
    def shelf(self) -> ModelShelf:
        if self._shelf is None:
            raise RuntimeError("the engine is not loaded yet")
        return self._shelf

    @property
    def engine(self) -> Engine:
        """The most recently used model's engine (the default one, until a job asks for another)."""
        loaded = self.shelf.loaded
        if not loaded:
            raise RuntimeError("no model is loaded")
        return self.shelf.engine(loaded[-1])

    @property
    def face_analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            raise RuntimeError("face analysis is not loaded")
        return self._analyzer

    @property
    def capabilities(self) -> Capabilities:
        return self.capabilities_for(None)

    def capabilities_for(self, model: str | None) -> Capabilities:
        """The model's, known exactly once it has loaded; before, what its configuration says."""
        if self._shelf is not None:
            return self._shelf.capabilities(model)
        return Capabilities.of(self.models.config(model))

    def warm(self) -> tuple[str, ...]:
        return self._shelf.loaded if self._shelf is not None else ()

    def model_states(self) -> list[ModelState]:
        models, shelf = self.models, self._shelf
        loaded = shelf.loaded if shelf is not None else ()
        return [
            ModelState(
                name,
                _label(shelf.family(name) if shelf else None),
                int(name in loaded),
                name == models.default,
            )
            for name in models.names
        ]

    @property
    def loaded(self) -> bool:
        """Whether the default model has loaded once (the dispatcher loads it again until it has)."""
        return self._shelf is not None

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
        """The face analyzer (when configured), then the default model's weights, once."""
        if self._shelf is None:
            models = self.models
            analyzer = await self.load_faces() if self.face_config is not None else None
            shelf = ModelShelf(models, analyzer)
            await self.call(shelf.engine, models.default)
            self._shelf = shelf
        return self.engine

    async def generate(
        self, request: GenerationRequest, on_progress: ProgressHandler | None, cancel: threading.Event
    ) -> GenerationResult:
        """Run on the job's model, loading it first (on the worker thread) when it is not loaded."""
        loop = asyncio.get_running_loop()
        shelf = self.shelf

        def progress(step: int, total: int) -> None:
            if on_progress is not None:
                loop.call_soon_threadsafe(on_progress, step, total)

        self._generating += 1
        try:
            return await self.call(shelf.generate, request, progress, cancel)
        finally:
            self._generating -= 1

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run model work (face analysis, loading) on the worker thread, in queue order."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def states(self) -> list[WorkerState]:
        return [WorkerState("local", self.loaded, busy=self._generating > 0)]

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _label(family: Family | None) -> str | None:
    return family.label if family is not None else None
