"""The configured checkpoints' engines: each loaded on first use, the most recently used kept.

A job names its model (``LIKENESS_MODELS``); ``ModelShelf.engine`` gives that model's engine, loading
it on the calling thread (the worker's, which owns the GPU) when it is not loaded. Past the budget
(``LIKENESS_MODEL_CACHE``: a count, or megabytes of weights) the least recently used engine is
dropped, and its memory given back, *before* the next one loads: on a card that holds one SDXL
model, two would not fit even for a moment. A dropped model comes back from disk, where the
operating system's file cache usually still holds it (``benchmarks/models.py`` measures a swap).

The captioning, depth and NSFW models do not depend on the checkpoint, so every engine shares one
of each; the face analyzer is the worker's.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from bot.engine.captions import Captioner
from bot.engine.checks import Capabilities, check_model
from bot.engine.config import ModelsConfig
from bot.engine.device import release_memory
from bot.engine.engine import CancelFlag, Engine, ProgressFn
from bot.engine.faces.types import FaceAnalyzer
from bot.engine.family import Family
from bot.engine.nsfw import NsfwClassifier
from bot.engine.structure import DepthEstimator
from bot.engine.upscaler import Upscaler
from bot.jobs import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

MB = 2**20


class ModelShelf:
    """Engines by model name, least recently used first. Not thread-safe: one worker thread owns it."""

    def __init__(
        self,
        models: ModelsConfig,
        face_analyzer: FaceAnalyzer | None = None,
        *,
        load: Callable[..., Engine] = Engine.load,
    ) -> None:
        self.models = models
        self.face_analyzer = face_analyzer
        self._load = load
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._sizes: dict[str, int] = {}  # bytes each model held when it was last loaded
        self._known: dict[str, Capabilities] = {}  # each model's, once it has loaded
        self._captioner: Captioner | None = None  # shared by every model's engine
        self._depth: DepthEstimator | None = None
        self._nsfw: NsfwClassifier | None = None
        self._upscaler: Upscaler | None = None
        self.loads = 0
        self.last_load_seconds: float | None = None

    @property
    def loaded(self) -> tuple[str, ...]:
        """The loaded models, least recently used first."""
        return tuple(self._engines)

    def engine(self, name: str | None = None) -> Engine:
        """``name``'s engine (the default's for None), loaded first if it is not; raises
        ``InvalidRequest`` for an unknown name and ``ModelUnavailable`` when its files fail to load."""
        name = self.models.check(name)
        engine = self._engines.get(name)
        if engine is not None:
            self._engines.move_to_end(name)
            return engine
        check_model(self.models, name)  # files gone since the job was queued: keep what is loaded
        self._make_room(name)
        started = time.perf_counter()
        engine = self._load(
            self.models.models[name],
            self.face_analyzer,
            captioner=self._captioner,
            depth=self._depth,
            nsfw=self._nsfw,
            upscaler=self._upscaler,
        )
        self.last_load_seconds = time.perf_counter() - started
        self.loads += 1
        self._engines[name] = engine
        self._sizes[name] = engine.weight_bytes
        self._known[name] = engine.capabilities
        self._captioner = engine.captioner or self._captioner
        self._nsfw = engine.nsfw or self._nsfw
        self._upscaler = engine.upscaler or self._upscaler
        if engine.structure is not None and engine.structure.depth is not None:
            self._depth = engine.structure.depth
        log.info(
            "model %s loaded in %.1f s (%d MB of weights); loaded now: %s",
            name,
            self.last_load_seconds,
            self._sizes[name] // MB,
            ", ".join(self._engines),
        )
        self._trim(keep=name)
        return engine

    def generate(
        self, request: GenerationRequest, progress: ProgressFn | None = None, cancel: CancelFlag | None = None
    ) -> GenerationResult:
        return self.engine(request.params.model).generate(request, progress, cancel)

    def capabilities(self, name: str | None = None) -> Capabilities:
        """What ``name``'s engine can do: known exactly once it has loaded (its family too), before
        that from its configuration."""
        name = self.models.check(name)
        return self._known.get(name) or Capabilities.of(self.models.models[name])

    def family(self, name: str) -> Family | None:
        known = self._known.get(name)
        return known.family if known is not None else None

    def _make_room(self, name: str) -> None:
        """Drop the least recently used engines until ``name`` (at its last known size) fits."""
        budget = self.models.budget
        coming = self._sizes.get(name, 0)
        while self._engines and budget.over(len(self._engines) + 1, self._held() + coming):
            self._drop(next(iter(self._engines)))

    def _trim(self, keep: str) -> None:
        """After a load whose size was not known: drop others until the budget holds (never ``keep``)."""
        while len(self._engines) > 1 and self.models.budget.over(len(self._engines), self._held()):
            self._drop(next(n for n in self._engines if n != keep))

    def _held(self) -> int:
        return sum(self._sizes[n] for n in self._engines)

    def _drop(self, name: str) -> None:
        engine = self._engines.pop(name)
        device = engine.pipes.device
        del engine
        gc.collect()
        release_memory(device)
        log.info("model %s unloaded to make room (budget %s)", name, self.models.budget.label)
