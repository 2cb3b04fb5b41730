"""Jobs on a Ray cluster: one ``EngineActor`` per GPU worker, at most one job on each at a time.

The queue stays here, in the coordinator (SQLite, the fair pick, restarts); Ray only runs the
engine. ``LIKENESS_RAY_ADDRESS`` empty starts a local Ray instance bound to loopback (one machine,
several GPUs; ``ray_start``), ``auto`` or ``ray://host:10001`` joins a cluster. Ray restarts an
actor that dies (``max_restarts``); the job it was running raises ``WorkerLost``, which the queue
runs again once on any worker and then fails, like a job interrupted by a restart of the bot. A
worker whose model fails to load is reported in ``states()``, and the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from bot import logs
from bot.engine.checks import Capabilities
from bot.engine.config import EngineConfig, ModelsConfig
from bot.engine.faces.factory import FaceConfig
from bot.engine.faces.types import Face
from bot.engine.family import Family
from bot.errors import ModelUnavailable, SettingsInvalid, WorkerLost
from bot.jobs import GenerationRequest, GenerationResult
from bot.running.ray_actor import EngineActor, Holding, Step, payload_of
from bot.running.ray_start import start_ray
from bot.running.runners import ModelState, ProgressHandler, RayConfig, WorkerState

log = logging.getLogger(__name__)

CANCEL_POLL = 0.1  # seconds between checks of a running job's cancel flag
RESTART_CHECK = 0.5  # seconds between asks whether a restarting worker is back
ANALYSIS_TIMEOUT = 300.0  # seconds a face analysis may take on a worker before it counts as lost
IDLE_CHECK = 1.0  # seconds between checks that some worker is still alive, while waiting for one

Description = tuple[str, Capabilities, tuple[str, int] | None]
"""What ``EngineActor.describe`` answers: the worker's name, capabilities and face analysis."""


@dataclass(slots=True)
class _Worker:
    index: int
    handle: Any
    name: str = ""
    ready: bool = False
    busy: bool = False
    restarting: bool = False  # died mid-job; Ray is bringing it back
    error: str | None = None
    models: tuple[str, ...] = ()  # the models it holds, least recently used first


class RayWorkers:
    def __init__(
        self,
        models: ModelsConfig | EngineConfig,
        faces: FaceConfig | None,
        ray: RayConfig,
        *,
        face_pack_url: str,
        offline: bool,
        face_pack_sha256: str | None = None,
    ) -> None:
        self.models_config = ModelsConfig.single(models) if isinstance(models, EngineConfig) else models
        self.face_config = faces
        self.ray_config = ray
        self.face_pack_url = face_pack_url
        self.face_pack_sha256 = face_pack_sha256
        self.offline = offline
        self.slots = ray.workers or 1
        self._workers: list[_Worker] = []
        self._freed = asyncio.Event()  # set when a worker becomes ready or finishes a job
        self._checks: set[asyncio.Task[None]] = set()
        self._turn = 0  # face analyses go round the workers
        self._faces: tuple[str, int] | None = None  # the workers' face analysis: backend, dimension
        self._capabilities: Capabilities | None = None  # the default model's, from the first worker
        self._families: dict[str, Family] = {}  # each model's, once some worker has loaded it

    # -- start-up -------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return any(w.ready or w.restarting for w in self._workers)

    @property
    def models(self) -> ModelsConfig:
        return self.models_config

    @property
    def capabilities(self) -> Capabilities:
        return self.capabilities_for(None)

    def capabilities_for(self, model: str | None) -> Capabilities:
        """Every worker runs the same configuration, so one worker's answer holds for all."""
        name = self.models.check(model)
        if name == self.models.default and self._capabilities is not None:
            return self._capabilities
        known = Capabilities.of(self.models.models[name])
        family = self._families.get(name)
        return known if family is None else replace(known, family=family)

    def warm(self) -> tuple[str, ...]:
        """The models held by a worker free to take a job now."""
        held = [m for w in self._workers if w.ready and not w.busy for m in w.models]
        return tuple(dict.fromkeys(held))

    def model_states(self) -> list[ModelState]:
        ready = [w for w in self._workers if w.ready]
        return [
            ModelState(
                name,
                family.label if (family := self._families.get(name)) is not None else None,
                sum(name in w.models for w in ready),
                name == self.models.default,
            )
            for name in self.models.names
        ]

    async def load(self) -> None:
        """Join (or start) Ray, start the actors, wait for each to load its engine; at least one must.

        The dispatcher calls this again while no worker is ready (all failed to load, or all died
        for good): the workers are then created afresh."""
        if self.loaded:
            return
        try:
            import ray
        except ImportError:
            raise SettingsInvalid(
                'LIKENESS_WORKERS=ray needs Ray: pip install -e ".[ray]" (or set LIKENESS_WORKERS=local)'
            ) from None

        self.shutdown()

        if not ray.is_initialized():
            await asyncio.to_thread(
                start_ray,
                self.ray_config.address or None,
                log_to_driver=True,  # the workers' logs appear in the bot's
                include_dashboard=False,
                configure_logging=False,
            )
        count = self.ray_config.workers or _per_gpu(
            ray.cluster_resources().get("GPU", 0), self.ray_config.gpus_per_worker
        )
        self.slots = count
        self._workers = [_Worker(i, self._start_actor(i)) for i in range(count)]
        await asyncio.gather(*(self._describe(w) for w in self._workers))
        if not self.loaded:
            errors = "; ".join(f"worker {w.index}: {w.error}" for w in self._workers)
            raise ModelUnavailable(f"no Ray worker could load the model ({errors})")

    def _start_actor(self, index: int) -> Any:
        """One engine actor: its GPU share, Ray's restarts, a second thread for cancel calls, and the
        coordinator's log level (its logs, redacted in its process, reach the coordinator's)."""
        import ray

        config = self.ray_config
        threads = max(1, int(config.cpus_per_worker)) if config.gpus_per_worker == 0 else None
        remote = ray.remote(EngineActor).options(
            num_gpus=config.gpus_per_worker,
            num_cpus=config.cpus_per_worker,
            max_restarts=config.max_restarts,
            max_task_retries=0,  # the queue decides what runs again, not Ray
            max_concurrency=3,  # a job, its cancel, a face analysis
        )
        return remote.remote(
            self.models,
            self.face_config,
            self.face_pack_url,
            self.offline,
            threads,
            logs.current(),
            face_pack_sha256=self.face_pack_sha256,
        )

    @staticmethod
    async def _ask_describe(worker: _Worker) -> Description:
        """``EngineActor.describe``, asked again while Ray restarts the actor."""
        from ray.exceptions import ActorUnavailableError

        while True:
            try:
                answer: Description = await worker.handle.describe.remote()
                return answer
            except ActorUnavailableError:  # restarting: not dead, not yet back
                await asyncio.sleep(RESTART_CHECK)

    async def _describe(self, worker: _Worker, after: str = "could not load the model") -> None:
        """Wait for the actor to answer (asked again while Ray restarts it); then it takes jobs."""
        try:
            worker.name, capabilities, faces = await self._ask_describe(worker)
        except Exception as exc:
            worker.ready, worker.restarting, worker.error = False, False, _reason(exc)
            log.error("Ray worker %d %s: %s", worker.index, after, worker.error)
            return
        self._capabilities = self._capabilities or capabilities
        if capabilities.family is not None:
            self._families[self.models.default] = capabilities.family
        self._faces = self._faces or faces
        worker.ready, worker.restarting, worker.error = True, False, None
        worker.models = (self.models.default,)  # a restarted actor loads the default again
        log.info("Ray worker %d ready on %s", worker.index, worker.name)
        self._freed.set()

    def _lost(self, worker: _Worker) -> None:
        """A worker died mid-job: out of the pool until Ray has restarted it (or given up on it)."""
        worker.ready, worker.restarting, worker.error = False, True, "restarting: it stopped during a job"
        task = asyncio.create_task(self._describe(worker, "stopped for good"))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    # -- jobs -----------------------------------------------------------------------------------
    async def generate(
        self, request: GenerationRequest, on_progress: ProgressHandler | None, cancel: threading.Event
    ) -> GenerationResult:
        """Run on a free worker, one holding the job's model first; progress and cancel cross to it
        while the job runs."""
        payload = await asyncio.to_thread(payload_of, request)
        worker = await self._next_idle(self.models.check(request.params.model))
        worker.busy = True
        key = uuid.uuid4().hex
        watcher = asyncio.create_task(self._watch(worker, key, cancel))
        try:
            return await self._run(worker, key, payload, on_progress)
        except WorkerLost:
            self._lost(worker)
            raise
        finally:
            watcher.cancel()
            worker.busy = False
            self._freed.set()

    async def _next_idle(self, model: str) -> _Worker:
        """A free worker, one that holds ``model`` first, else the one holding fewest models (its
        cache has room, or it drops the least); none left alive gives the job back (the dispatcher
        then loads anew)."""
        while True:
            if not self.loaded:
                raise WorkerLost("no GPU worker is running")
            free = [w for w in self._workers if w.ready and not w.busy]
            if free:
                return min(free, key=lambda w: (model not in w.models, len(w.models), w.index))
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), IDLE_CHECK)

    async def _run(
        self, worker: _Worker, key: str, payload: Any, on_progress: ProgressHandler | None
    ) -> GenerationResult:
        import ray.exceptions

        try:
            stream = worker.handle.generate.options(num_returns="streaming").remote(key, payload)
            async for ref in stream:
                item = await ref
                if isinstance(item, Step):
                    if on_progress is not None:
                        on_progress(item.done, item.total)
                elif isinstance(item, Holding):
                    worker.models = item.models
                    self._families.update(item.families)
                else:
                    return item  # type: ignore[no-any-return]
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, BaseException):
                raise cause from None
            raise
        except ray.exceptions.RayActorError as exc:
            log.warning("Ray worker %d died running a job: %s", worker.index, _reason(exc))
            raise WorkerLost("the GPU worker running this job stopped; it runs again") from None
        raise WorkerLost("the GPU worker ended the job without a result")

    async def _watch(self, worker: _Worker, key: str, cancel: threading.Event) -> None:
        while not cancel.is_set():
            await asyncio.sleep(CANCEL_POLL)
        with contextlib.suppress(Exception):
            await worker.handle.cancel.remote(key)

    # -- face analysis --------------------------------------------------------------------------
    def face_analyzer(self) -> RayFaceAnalyzer:
        """Face analysis on the workers (after ``load``; they were given a face configuration)."""
        if self._faces is None:
            raise RuntimeError("the Ray workers have no face analysis")
        return RayFaceAnalyzer(self, *self._faces)

    def _analysis_worker(self) -> _Worker:
        """A ready worker for a face analysis, an idle one first (it runs beside a job anyway)."""
        ready = [w for w in self._workers if w.ready]
        if not ready:
            raise WorkerLost("no GPU worker is running to analyse the face; try again shortly")
        self._turn += 1
        return min(ready, key=lambda w: (w.busy, (w.index - self._turn) % len(self._workers)))

    # -- reporting ------------------------------------------------------------------------------
    def states(self) -> list[WorkerState]:
        return [WorkerState(w.name or f"ray-{w.index}", w.ready, w.busy, w.error) for w in self._workers]

    def actors(self) -> list[Any]:
        """The actor handles (tests kill one to prove a job survives it)."""
        return [w.handle for w in self._workers]

    def shutdown(self) -> None:
        """Stop every actor (no restart): their GPUs are free for the next coordinator."""
        if not self._workers:
            return
        import ray

        for task in self._checks:
            task.cancel()
        for worker in self._workers:
            worker.ready = False
            with contextlib.suppress(Exception):
                ray.kill(worker.handle, no_restart=True)
        self._workers = []


def _per_gpu(gpus: float, gpus_per_worker: float) -> int:
    """``LIKENESS_RAY_WORKERS`` empty: as many workers as the cluster's GPUs hold, at least one."""
    return max(1, int(gpus // gpus_per_worker)) if gpus_per_worker > 0 else 1


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "cause", None) or exc).strip().splitlines()
    return text[-1][:300] if text else type(exc).__name__


class RayFaceAnalyzer:
    """The ``FaceAnalyzer`` the coordinator uses in Ray mode: each analysis runs on a worker's GPU.

    Synchronous, like every analyzer: the coordinator calls it from its own worker thread, never the
    event loop. A worker that dies mid-analysis is a clear error to try again, never a hang."""

    def __init__(self, workers: RayWorkers, backend: str, dim: int) -> None:
        self.workers = workers
        self.backend = backend
        self.dim = dim
        self.providers = ("Ray",)

    def analyze(self, image: Image.Image) -> list[Face]:
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        worker = self.workers._analysis_worker()
        try:
            faces: list[Face] = ray.get(worker.handle.analyze.remote(image), timeout=ANALYSIS_TIMEOUT)
        except RayTaskError as exc:
            raise (exc.cause if isinstance(exc.cause, Exception) else exc) from None
        except (RayActorError, ray.exceptions.GetTimeoutError) as exc:
            raise WorkerLost(
                f"the GPU worker analysing the face stopped ({_reason(exc)}); try again"
            ) from None
        return faces
