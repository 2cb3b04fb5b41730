"""The bot's long-lived parts, opened once: database, media, GPU worker and queue."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.characters import CharacterService, IdentitySource
from bot.engine.config import EngineConfig
from bot.engine.engine import Engine
from bot.inflight import WorkInFlight
from bot.queue import JobQueue
from bot.settings import Settings
from bot.worker import GpuWorker
from storage import CharacterRepository, Database, JobRepository, MediaStore
from storage.permissions import DIR_MODE, make_private_dirs, tighten

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    media: MediaStore
    jobs: JobRepository
    worker: GpuWorker
    queue: JobQueue
    characters: CharacterService
    identity: IdentitySource

    @classmethod
    async def open(cls, settings: Settings, engine_factory: Callable[[], Engine] | None = None) -> Services:
        # Owner only: it holds face embeddings and users' photos. An older, looser install is tightened.
        make_private_dirs(settings.data_dir)
        tighten(settings.data_dir, DIR_MODE)
        db = await Database.open(settings.database_path)
        media = MediaStore(settings.media_dir)
        jobs = JobRepository(db, media, min_free_bytes=settings.min_free_bytes)
        config = EngineConfig.from_settings(settings)
        character_repo = CharacterRepository(db, media, min_free_bytes=settings.min_free_bytes)
        # load_models loads the face analyzer first; this factory then runs on the worker thread.
        worker = GpuWorker(engine_factory or (lambda: Engine.load(config, face_analyzer=characters.analyzer)))
        identity = IdentitySource(character_repo, media)
        # One count of each user's GPU work: jobs (in the database) and face analyses (in memory).
        in_flight = WorkInFlight(settings.queue_per_user, jobs.active_jobs)
        queue = JobQueue(
            jobs,
            worker,
            per_user_limit=settings.queue_per_user,
            total_limit=settings.queue_total,
            history_seconds=settings.history_days * 86400,
            identity_for=identity.identity_for,
            max_stored_bytes=settings.max_stored_bytes,
            in_flight=in_flight,
        )
        characters = CharacterService(character_repo, media, worker, settings, in_flight=in_flight)
        return cls(settings, db, media, jobs, worker, queue, characters, identity)

    async def load_models(self) -> None:
        """Diffusion weights and face models, on the worker thread; missing ones stop start-up."""
        await self.characters.load()  # first: the engine scores face-locked candidates with it
        await self.worker.load()

    async def close(self) -> None:
        await self.queue.stop()
        await self.db.close()
        self.worker.shutdown()
