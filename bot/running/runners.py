"""Where jobs run: the one protocol the queue dispatches to.

``GpuWorker`` (the default) runs one job at a time on this process's worker thread; ``RayWorkers``
runs up to one job per Ray actor, each actor an engine on its own GPU. A third engine (KubeRay,
say) is configuration of the second; anything else implements these few members.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.engine.checks import Capabilities
from bot.engine.config import ModelsConfig
from bot.jobs import GenerationRequest, GenerationResult

ProgressHandler = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class WorkerState:
    """One worker as ``/queue`` and ``GET /v1/health`` show it."""

    name: str
    ready: bool
    busy: bool = False
    error: str | None = None  # why it is not ready (its model failed to load, it died)


@dataclass(frozen=True, slots=True)
class ModelState:
    """One configured checkpoint as ``/models`` shows it."""

    name: str
    family: str | None  # "SD 1.5", "SDXL"; None until it has loaded once
    loaded: int  # how many workers hold it now (the local worker: 0 or 1)
    default: bool = False


@dataclass(frozen=True, slots=True)
class RayConfig:
    """``LIKENESS_RAY_*``: where the Ray workers are and what each takes."""

    address: str = ""  # "" starts a local instance; "auto"; "ray://host:10001"
    workers: int | None = None  # None: one per GPU Ray reports, at least 1
    gpus_per_worker: float = 1.0  # 0: a CPU worker (tests, a machine without a GPU)
    cpus_per_worker: float = 1.0
    max_restarts: int = 3  # Ray restarts a worker that died this many times


class JobRunner(Protocol):
    slots: int  # jobs that may run at once

    @property
    def models(self) -> ModelsConfig:
        """The checkpoints jobs choose from."""
        ...

    @property
    def loaded(self) -> bool: ...
    @property
    def capabilities(self) -> Capabilities: ...
    def capabilities_for(self, model: str | None) -> Capabilities: ...
    def warm(self) -> tuple[str, ...]:
        """The models loaded where a job could start now, least recently used first (the queue
        prefers their jobs, within one pass)."""
        ...

    def model_states(self) -> list[ModelState]: ...
    async def load(self) -> object: ...
    async def generate(
        self, request: GenerationRequest, on_progress: ProgressHandler | None, cancel: threading.Event
    ) -> GenerationResult: ...
    def states(self) -> list[WorkerState]: ...
    def shutdown(self) -> None: ...
