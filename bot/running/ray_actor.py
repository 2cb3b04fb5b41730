"""The engine as a Ray actor: loaded once in its own process, on its own GPU (or CPU threads).

Inputs travel as bytes in the call and are written to a private temporary folder for the engine
(no shared filesystem); the result comes back as the engine's own frozen ``GenerationResult``.
``generate`` is a streaming generator: progress steps (at most ten a second: each is a round trip),
then the result. ``cancel`` runs beside it (the actor has three threads: a job, its cancel, a face
analysis), so a cancel reaches the running step.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

from bot import logs
from bot.engine.checks import Capabilities
from bot.engine.config import ModelsConfig
from bot.engine.downloads import ensure_face_pack
from bot.engine.faces.factory import FaceConfig
from bot.engine.faces.types import Face
from bot.engine.family import Family
from bot.engine.shelf import ModelShelf
from bot.jobs import GenerationRequest, GenerationResult, Identity

log = logging.getLogger(__name__)

PROGRESS_EVERY = 0.1  # seconds between progress steps sent back (the first and the last always are)


@dataclass(frozen=True, slots=True)
class Payload:
    """A request with its files' bytes in place of paths: ``(data, extension)``."""

    request: GenerationRequest
    image: tuple[bytes, str] | None
    mask: tuple[bytes, str] | None
    primary: tuple[bytes, str] | None  # the identity's primary reference


@dataclass(frozen=True, slots=True)
class Step:
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class Holding:
    """Sent before each result: the models the worker holds now, least recently used first, and the
    family of each (the coordinator routes the next jobs by it)."""

    models: tuple[str, ...]
    families: dict[str, Family]


class EngineActor:
    """Wrapped by ``ray.remote`` in ``bot.ray_workers``; importable without Ray. Holds the
    configured models as the local worker does (``ModelShelf``): the default at start, the others
    when a job first names them."""

    def __init__(
        self,
        models: ModelsConfig,
        faces: FaceConfig | None,
        face_pack_url: str,
        offline: bool,
        threads: int | None,
        log: logs.LogSetup,
        face_pack_sha256: str | None = None,
    ) -> None:
        logs.configure(log.level, http=log.http)  # its own process: the coordinator's filter is not here
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.faces = None
        if faces is not None:
            ensure_face_pack(faces, face_pack_url, offline, face_pack_sha256)
            self.faces = faces.load()
        self.shelf = ModelShelf(models, self.faces)
        self.shelf.engine(models.default)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._cancels: dict[str, threading.Event] = {}

    def describe(self) -> tuple[str, Capabilities, tuple[str, int] | None]:
        """Its name, what its default model can do, and its face analysis (backend, dimension) if any."""
        faces = None if self.faces is None else (self.faces.backend, self.faces.dim)
        return self.name, self.shelf.capabilities(None), faces

    def holding(self) -> Holding:
        shelf = self.shelf
        families = {n: f for n in shelf.loaded if (f := shelf.family(n)) is not None}
        return Holding(shelf.loaded, families)

    def analyze(self, image: Image.Image) -> list[Face]:
        """Face analysis for the coordinator (character references, Fix face) on this worker's GPU."""
        if self.faces is None:
            raise RuntimeError("this worker has no face analysis configured")
        return self.faces.analyze(image)

    def generate(self, key: str, payload: Payload) -> Iterator[Step | Holding | GenerationResult]:
        cancel = self._cancels.setdefault(key, threading.Event())
        steps: queue.Queue[Any] = queue.Queue()
        outcome: list[Any] = []
        try:
            with tempfile.TemporaryDirectory(prefix="likeness-job-") as folder:
                request = _local_request(payload, Path(folder))

                def run() -> None:
                    try:
                        outcome.append(
                            self.shelf.generate(request, lambda d, t: steps.put(Step(d, t)), cancel)
                        )
                    except BaseException as exc:  # re-raised below, in the generator's own thread
                        outcome.append(exc)
                    finally:
                        steps.put(None)

                thread = threading.Thread(target=run, name=f"likeness-job-{key}")
                thread.start()
                last = 0.0
                while (step := steps.get()) is not None:
                    now = time.monotonic()
                    if step.done in (1, step.total) or now - last >= PROGRESS_EVERY:
                        last = now
                        yield step
                thread.join()
        finally:
            self._cancels.pop(key, None)
        yield self.holding()  # a model loaded for a job that failed is held all the same
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        yield outcome[0]

    def cancel(self, key: str) -> None:
        self._cancels.setdefault(key, threading.Event()).set()


def _local_request(payload: Payload, folder: Path) -> GenerationRequest:
    def write(name: str, file: tuple[bytes, str] | None) -> Path | None:
        if file is None:
            return None
        path = folder / f"{name}.{file[1]}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # a user's photo: owner-only
        with os.fdopen(fd, "wb") as out:
            out.write(file[0])
        return path

    request = payload.request
    identity = request.identity
    if identity is not None:
        identity = Identity(identity.embeddings, write("primary", payload.primary))
    return replace(
        request, image=write("image", payload.image), mask=write("mask", payload.mask), identity=identity
    )


def payload_of(request: GenerationRequest) -> Payload:
    """On the coordinator: the request's files read into the call (runs off the event loop)."""

    def read(path: Path | None) -> tuple[bytes, str] | None:
        return None if path is None else (path.read_bytes(), path.suffix.lstrip(".") or "png")

    primary = request.identity.primary if request.identity is not None else None
    return Payload(request, read(request.image), read(request.mask), read(primary))
