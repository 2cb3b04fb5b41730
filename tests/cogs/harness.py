"""Start the real bot against the fake Discord, composed as ``bot.cli.run.serve`` composes it for
``python -m bot run`` (services opened, models loaded, ``LikenessBot(services).serve()``), plus the
small helpers the front-end tests share: attachments, /generate, the database, the engine's pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app.client import LikenessBot, make_bot
from bot.app.services import Services
from bot.app.settings import Settings, load_settings
from bot.engine.engine import Engine
from bot.jobs import GenerationRequest, GenerationResult
from bot.tiny import TinyBundle
from storage import JobRow, JobStatus
from tests.bot.engine.helpers import box_mask, gradient_image, png_bytes
from tests.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser


def bot_settings(bundle: TinyBundle, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"discord_token": "fake-bot-token", "data_dir": data_dir, "default_steps": 4}
    values.update(overrides)
    return load_settings(bundle.env_file, **values)


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord, settings: Settings, timeout: float = 30
) -> AsyncIterator[LikenessBot]:
    fake.install()
    services = await Services.open(settings)
    try:
        await services.load_models()
        bot = make_bot(services, guild_ready_timeout=0.02)
        task = asyncio.create_task(bot.serve())
        try:
            async with asyncio.timeout(timeout):
                while not bot.is_ready():
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.02)
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
    finally:
        await services.close()


# -- inputs ----------------------------------------------------------------------------------------


def png_attachment(
    fake: FakeDiscord, width: int = 64, height: int = 64, *, seed: int = 0, name: str = "src.png"
) -> dict[str, Any]:
    """A real PNG picture uploaded to the fake CDN (``seed`` makes the bytes, hence the media sha, differ)."""
    return fake.add_attachment(png_bytes(gradient_image(width, height, seed)), name, "image/png")


def mask_attachment(fake: FakeDiscord, width: int = 64, height: int = 64) -> dict[str, Any]:
    """A white square in the middle of a black mask."""
    mask = box_mask(width, height, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    return fake.add_attachment(png_bytes(mask), "mask.png", "image/png")


async def generate(
    fake: FakeDiscord, user: FakeUser | None = None, prompt: str = "a lighthouse", **options: Any
) -> FakeInteraction:
    """Run /generate as ``user`` and wait for the bot to acknowledge it."""
    interaction = await fake.slash(user, "generate", {"prompt": prompt, **options})
    await interaction.wait_response()
    return interaction


async def result_message(interaction: FakeInteraction, timeout: float = 30.0) -> FakeMessage:
    """The job message once it carries the images."""
    return await interaction.wait_final(lambda m: bool(m.files), timeout)


async def ephemeral_reply(interaction: FakeInteraction, timeout: float = 10.0) -> FakeMessage:
    """The private answer to ``interaction`` (response or followup)."""
    return await interaction.wait_final(lambda m: m.ephemeral and not m.loading, timeout)


async def private_error(fake: FakeDiscord, interaction: FakeInteraction, timeout: float = 10.0) -> str:
    """The text of the private message answering ``interaction``: an ephemeral response (checks
    before the deferral) or an ephemeral followup after the "thinking…" message was deleted."""
    message = await interaction.wait_final(lambda m: m.ephemeral and not m.deleted and not m.loading, timeout)
    return message.content


def job_id_of(message: FakeMessage) -> int:
    """The job number from a job message ("Job 3: …" / "<@1> job 3 is done")."""
    words = message.content.replace(":", " ").split()
    index = next(i for i, w in enumerate(words) if w.lower() == "job")
    return int(words[index + 1])


async def wait_job_message(interaction: FakeInteraction, timeout: float = 10.0) -> int:
    """Wait until the bot announced the job in its reply; returns the job id."""
    message = await interaction.wait_final(lambda m: m.content.lower().startswith("job "), timeout)
    return job_id_of(message)


# -- the database and the media folder ---------------------------------------------------------


async def jobs(bot: LikenessBot) -> list[JobRow]:
    """Every job row, in id order."""
    rows = await bot.services.db.fetchall("SELECT id FROM jobs ORDER BY id")
    found = [await bot.services.jobs.get(r[0]) for r in rows]
    return [j for j in found if j is not None]


async def wait_status(bot: LikenessBot, job_id: int, *statuses: JobStatus, timeout: float = 30.0) -> JobRow:
    """Poll the job row until it reaches one of ``statuses`` (the database has no change signal)."""
    async with asyncio.timeout(timeout):
        while True:
            job = await bot.services.jobs.get(job_id)
            if job is not None and job.status in statuses:
                return job
            await asyncio.sleep(0.02)


async def wait_delivered(bot: LikenessBot, job_id: int, timeout: float = 30.0) -> JobRow:
    """Poll the job row until the bot recorded where it posted the result."""
    async with asyncio.timeout(timeout):
        while True:
            job = await bot.services.jobs.get(job_id)
            if job is not None and job.delivered_at is not None:
                return job
            await asyncio.sleep(0.02)


def media_files(data_dir: Path) -> list[Path]:
    """Stored media files (pins live in memory; temp files start with a dot)."""
    root = data_dir / "media"
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


async def media_bytes(bot: LikenessBot, sha: str | None) -> bytes:
    """A stored media file's bytes (its extension comes from the media row)."""
    assert sha is not None
    path = await bot.services.jobs.media_path(sha)
    assert path is not None
    return path.read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# -- the engine's pace -------------------------------------------------------------------------


@dataclass
class EngineControl:
    """Wraps ``Engine.generate`` on the GPU worker thread, so tests decide how long a job takes.

    ``hold()`` closes a gate at which every job waits after reporting its first step (the worker is
    busy, deterministically, however fast the CPU is); ``release()`` opens it. ``step_delay`` slows
    every step; ``fail_with`` makes the next job raise at its first step, inside the diffusers call.
    It records each run's prompt and the last step it reported.
    """

    step_delay: float = 0.0
    fail_with: list[BaseException] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    last_step: dict[int, int] = field(default_factory=dict)  # run index -> last step reported
    gate: threading.Event = field(default_factory=threading.Event)
    waiting: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.gate.set()

    def hold(self) -> None:
        self.waiting.clear()
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    async def wait_held(self, timeout: float = 30.0) -> None:
        """Until a job is waiting at the closed gate."""
        if not await asyncio.to_thread(self.waiting.wait, timeout):
            raise TimeoutError("no job reached the engine gate")

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = Engine.generate
        control = self

        def generate(
            engine: Engine,
            request: GenerationRequest,
            progress: Callable[[int, int], None] | None = None,
            cancel: Any = None,
        ) -> GenerationResult:
            run = len(control.runs)
            control.runs.append(request.params.prompt)

            def step(done: int, total: int) -> None:
                control.last_step[run] = done
                if control.fail_with:
                    raise control.fail_with.pop(0)
                if progress is not None:
                    progress(done, total)
                if control.step_delay:
                    time.sleep(control.step_delay)
                if not control.gate.is_set():
                    control.waiting.set()
                    control.gate.wait(60)

            return original(engine, request, step, cancel)

        monkeypatch.setattr(Engine, "generate", generate)
