"""The bot's long-lived parts, built once and in dependency order: storage, the GPU worker, the
queue, and the services the entry points call. Discord, the command line and tests all start here."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot.actions.apikeys import ApiKeys
from bot.actions.forget import STOP_WAIT, Forgotten, forget
from bot.actions.guilds import GuildActions
from bot.actions.jobs import JobActions
from bot.actions.submissions import JobChecks, Submissions
from bot.app.settings import Settings
from bot.characters.identity import IdentitySource
from bot.characters.service import CharacterService
from bot.engine.checks import model_problems
from bot.engine.embeddings import EmbeddingLibrary
from bot.engine.loras import LoraLibrary
from bot.errors import SettingsInvalid
from bot.guilds.declared import Choices
from bot.metrics.registry import Metrics
from bot.metrics.server import MetricsServer
from bot.nsfw_policy import NsfwPolicy
from bot.params import PARAMS_CODEC, JobParams
from bot.running.decodes import DecodePool
from bot.running.inflight import WorkInFlight
from bot.running.queue import JobQueue
from bot.running.ray_workers import RayWorkers  # imports Ray itself only when it is used
from bot.running.runners import JobRunner
from bot.running.worker import GpuWorker
from storage import (
    ApiKeyRepository,
    BanRepository,
    CharacterRepository,
    Database,
    GuildSettingsRepository,
    JobRepository,
    MediaStore,
    WebhookOutbox,
)
from storage.permissions import DIR_MODE, make_private_dirs, tighten

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    media: MediaStore
    jobs: JobRepository[JobParams]
    worker: GpuWorker  # this process's model thread: face analysis, and jobs when workers=local
    runner: JobRunner  # where jobs run: the worker above, or Ray actors
    queue: JobQueue
    job_actions: JobActions  # cancel and delete, the same from every entry point
    characters: CharacterService
    submissions: Submissions
    loras: LoraLibrary  # the style LoRA folder, for listing and checks (the engine reads its own)
    keys: ApiKeys
    webhooks: WebhookOutbox
    decodes: DecodePool  # uploads' decodes, bounded before any queue slot
    embeddings: EmbeddingLibrary  # the textual-inversion folder, for listing and checks
    metrics: Metrics  # this process's Prometheus registry: the queue's events and state, the API's
    guilds: GuildActions  # each server's settings, bans and daily quota
    forget_stop_wait: float = STOP_WAIT  # how long forgetting waits for a running job to stop
    metrics_server: MetricsServer | None = None  # LIKENESS_METRICS_PORT's, once serve_metrics ran
    nsfw: NsfwPolicy = field(default_factory=NsfwPolicy)  # where flagged outputs may go (bot-wide)

    @classmethod
    async def open(cls, settings: Settings) -> Services:
        # Owner only: it holds face embeddings and users' photos. An older, looser install is tightened.
        make_private_dirs(settings.data_dir)
        tighten(settings.data_dir, DIR_MODE)
        db = await Database.open(settings.database_path)
        media = MediaStore(settings.media_dir)
        floor = settings.min_free_bytes
        jobs = JobRepository(db, media, params=PARAMS_CODEC, min_free_bytes=floor)
        character_repo = CharacterRepository(db, media, min_free_bytes=floor)
        identity = IdentitySource(character_repo, media)
        models = settings.models_config
        for problem in model_problems(models):
            log.warning("%s", problem)
        worker = GpuWorker(
            models,
            settings.face_config,
            face_pack_url=settings.face_pack_url,
            face_pack_sha256=settings.face_pack_sha256,
            offline=settings.offline,
        )
        runner: JobRunner = worker
        if settings.workers == "ray":
            worker = GpuWorker(None, None)  # its thread calls the workers' face analysis
            runner = RayWorkers(
                models,
                settings.face_config,
                settings.ray_config,
                face_pack_url=settings.face_pack_url,
                offline=settings.offline,
                face_pack_sha256=settings.face_pack_sha256,
            )
        # One count of each user's GPU work: jobs (in the database) and face analyses (in memory).
        in_flight = WorkInFlight(settings.queue_per_user, jobs.active_jobs)
        queue = JobQueue(
            jobs,
            runner,
            per_user_limit=settings.queue_per_user,
            total_limit=settings.queue_total,
            history_seconds=settings.history_days * 86400,
            identity_for=identity.identity_for,
            max_stored_bytes=settings.max_stored_bytes,
            in_flight=in_flight,
        )
        metrics = Metrics()
        metrics.watch(queue)  # the first listener: counted whichever entry point runs the queue
        decodes = DecodePool(settings.decode_workers)
        characters = CharacterService(
            character_repo,
            worker,
            decodes=decodes,
            backend=settings.face_backend,
            max_stored_bytes=settings.max_stored_bytes,
            max_characters=settings.max_characters,
            in_flight=in_flight,
        )
        loras = LoraLibrary(settings.lora_dir)
        embeddings = EmbeddingLibrary(settings.embedding_dir)
        checks = JobChecks(
            settings.defaults, runner.capabilities_for, character_repo, identity, loras, embeddings, models
        )
        defaults = settings.defaults
        guilds = GuildActions(
            GuildSettingsRepository(db),
            BanRepository(db),
            queue,
            limits=settings.bot_limits,
            choices=lambda: Choices(defaults.style_names, tuple(models.names)),
            owners=settings.owners,
        )
        submissions = Submissions(checks, queue, media, worker, decodes, guilds)
        keys = ApiKeys(ApiKeyRepository(db))
        return cls(
            settings,
            db,
            media,
            jobs,
            worker,
            runner,
            queue,
            JobActions(queue),
            characters,
            submissions,
            loras,
            keys,
            WebhookOutbox(db),
            decodes,
            embeddings,
            metrics,
            guilds,
            nsfw=settings.nsfw_policy,
        )

    async def forget(self, user_id: int) -> Forgotten:
        """Everything stored about ``user_id`` (``bot.actions.forget``), their unfinished jobs
        cancelled first: ``/forget-me``, ``DELETE /v1/me`` and ``forget-user`` all come here."""
        return await forget(
            user_id,
            db=self.db,
            media=self.media,
            jobs=self.jobs,
            cancel=self.queue.cancel,
            stop_wait=self.forget_stop_wait,
        )

    def serve_metrics(self) -> None:
        """With ``LIKENESS_METRICS_PORT`` set, serve the metrics on it (``bot.metrics.server``), so a
        bot without the HTTP API has them too; started before the models load, so a scrape sees the
        load. An address that cannot be bound stops start-up, naming the setting."""
        port = self.settings.metrics_port
        if port is None or self.metrics_server is not None:
            return
        host = self.settings.metrics_host
        try:
            self.metrics_server = MetricsServer.start(self.metrics.registry, host, port)
        except OSError as exc:
            raise SettingsInvalid(
                f"LIKENESS_METRICS_PORT={port}: cannot listen on {host}:{port} ({exc.strerror or exc})"
            ) from None

    async def load_models(self) -> None:
        """Face models, then the diffusion weights (on the worker thread, or on every Ray worker);
        missing ones stop start-up."""
        if self.runner is self.worker:
            await self.worker.load()
            return
        await self.runner.load()
        if self.settings.face_config is not None:  # faces are analysed on the Ray workers' GPUs
            assert isinstance(self.runner, RayWorkers)
            self.worker.use_faces(self.runner.face_analyzer())

    async def close(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.stop()
        await self.queue.stop()
        await self.db.close()
        self.worker.shutdown()
        self.decodes.shutdown()
        if self.runner is not self.worker:
            self.runner.shutdown()
