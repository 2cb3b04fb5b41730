"""Job messages on Discord: queued → progress → result, edited in place while the token lives.

Listens to the queue's events. Edits are ranked so a late "queued" edit never overwrites a result,
throttled to one per ``PROGRESS_INTERVAL`` per job (Discord allows about 5 edits per 5 s), and
after the 15-minute interaction token expires the result goes to the channel, mentioning its owner.
A delivery that failed (Discord down, the channel gone for a while) is tried again by the
periodic passes of ``cogs.utils.redelivery``; the token is forgotten once the job's message is final.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import discord
from discord.ext import commands
from PIL import Image

from bot.app.client import LikenessBot
from bot.jobs import GenerationResult
from bot.running.queue import Job, Ticket
from cogs.utils.buttons import queued_view, result_view, suggestions_view
from cogs.utils.nsfw import shown_for_job
from cogs.utils.redelivery import redeliver_forever
from cogs.utils.texts import finished_text, progress_text, queued_text, result_embed, suggestions_embed
from cogs.utils.upscale_buttons import add_upscale_buttons
from storage import JobStatus, OutputRow

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 1.5
EDIT_WINDOW = 5.0  # Discord allows about 5 edits of one message per 5 s ...
PROGRESS_EDITS_PER_WINDOW = 3  # ... so progress leaves room for the start and the result
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
QUEUED, STARTED, PROGRESS, FINAL = range(4)


@dataclass(slots=True)
class _JobMessage:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    rank: int = -1
    last_edit: float = 0.0
    started: float = field(default_factory=time.monotonic)
    edits: deque[float] = field(default_factory=deque)  # times of recent edits
    token_rejected: bool = False  # Discord refused the token (401): stop using it

    def recent_edits(self, now: float) -> int:
        while self.edits and now - self.edits[0] >= EDIT_WINDOW:
            self.edits.popleft()
        return len(self.edits)


class Delivery(commands.Cog):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot
        self._messages: dict[int, _JobMessage] = {}
        self._delivering: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def cog_load(self) -> None:
        self.bot.services.queue.listeners.append(self)
        task = asyncio.create_task(
            redeliver_forever(self.bot.services.jobs, self.deliver, self.bot.wait_until_ready),
            name="likeness-redeliver",
        )
        self._tasks.add(task)
        task.add_done_callback(self._redeliver_done)

    async def cog_unload(self) -> None:
        self.bot.services.queue.listeners.remove(self)
        for task in self._tasks:
            task.cancel()

    # -- queue events ---------------------------------------------------------------------------
    async def job_queued(self, ticket: Ticket) -> None:
        job = ticket.job
        text = queued_text(job.id, ticket.position, ticket.length, ticket.wait_seconds)
        await self._edit(job, QUEUED, content=text, view=queued_view(job.id))

    async def job_started(self, job: Job) -> None:
        self._state(job.id).started = time.monotonic()
        await self._edit(job, STARTED, content=f"Job {job.id}: starting…", view=queued_view(job.id))

    async def job_progress(self, job: Job, step: int, total: int) -> None:
        state = self._state(job.id)
        now = time.monotonic()
        if (
            state.lock.locked()
            or now - state.last_edit < PROGRESS_INTERVAL
            or state.recent_edits(now) >= PROGRESS_EDITS_PER_WINDOW
        ):
            return
        elapsed = time.monotonic() - state.started
        tiles = job.params.upscale is not None
        await self._edit(job, PROGRESS, content=progress_text(job.id, step, total, elapsed, tiles=tiles))

    async def job_finished(self, job: Job, result: GenerationResult | None) -> None:
        if not job.for_discord:  # an API job: fetched or sent to its webhook by the API
            return
        if job.status is JobStatus.CANCELLED:
            await self._edit(job, FINAL, content=finished_text(job), view=None)
            self._messages.pop(job.id, None)
            await self.bot.services.jobs.forget_token(job.id)  # nothing edits this message again
            return
        await self.deliver(job)

    # -- delivery -------------------------------------------------------------------------------
    async def deliver(self, job: Job) -> None:
        """Post a finished job once: edit the reply while the token lives, else a channel message."""
        if job.id in self._delivering:
            return
        self._delivering.add(job.id)
        try:
            # The row may be stale (listed for redelivery while job_finished delivered it): re-read.
            current = await self.bot.services.jobs.get(job.id)
            if current is None or current.delivered_at is not None:
                return
            job = current
            stored = await self.bot.services.jobs.outputs(job.id) if job.status is JobStatus.DONE else []
            shown = await shown_for_job(self.bot, job, stored)  # flagged outputs left out where withheld
            outputs = shown.posted
            files, note = await asyncio.to_thread(self._encode, outputs, self._upload_limit(job))
            notes = [n for n in (shown.note, note) if n]
            content = finished_text(job) + "".join(f"\n{n}" for n in notes)
            fields: dict[str, Any] = {"content": content, "view": None, "embed": None}
            if job.suggestions:
                fields.update(
                    embed=suggestions_embed(job), view=suggestions_view(job.id, len(job.suggestions))
                )
            if stored:
                view = result_view(
                    job.id,
                    [o.idx for o in outputs],
                    character=job.character_id is not None,
                    structure=job.structure_media is not None,
                )
                add_upscale_buttons(
                    view,
                    job,
                    outputs,
                    max_megapixels=self.bot.services.settings.max_output_mp,
                    enabled=self.bot.services.runner.capabilities.upscale,
                )
                fields.update(
                    embed=result_embed(job, outputs, job.warnings, withheld=len(shown.withheld)), view=view
                )
            if await self._edit(job, FINAL, attachments=[_file(*f) for f in files], **fields):
                assert job.message_id is not None and job.channel_id is not None
                await self.bot.services.jobs.set_delivery(job.id, job.message_id, job.channel_id)
            else:
                message = await self._post_to_channel(job, files, fields)
                if message is not None:
                    await self.bot.services.jobs.set_delivery(job.id, message.id, message.channel.id)
        finally:
            self._delivering.discard(job.id)
            self._messages.pop(job.id, None)

    async def _post_to_channel(
        self, job: Job, files: list[tuple[bytes, str]], fields: dict[str, Any]
    ) -> discord.Message | None:
        await self.bot.wait_until_ready()
        if job.channel_id is None:
            log.warning("job %d has no channel to deliver to", job.id)
            return None
        channel = self.bot.get_channel(job.channel_id)
        try:
            if channel is None:
                channel = await self.bot.fetch_channel(job.channel_id)
            assert isinstance(channel, discord.abc.Messageable)
            return await channel.send(
                files=[_file(*f) for f in files],
                allowed_mentions=owner_only(job.user_id),
                **{k: v for k, v in fields.items() if v is not None},
            )
        except discord.HTTPException:
            log.exception("could not deliver job %d to channel %s", job.id, job.channel_id)
            return None

    def _redeliver_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("the redelivery loop ended", exc_info=task.exception())

    # -- editing --------------------------------------------------------------------------------
    def _state(self, job_id: int) -> _JobMessage:
        return self._messages.setdefault(job_id, _JobMessage())

    async def _edit(self, job: Job, rank: int, **fields: Any) -> bool:
        if not _token_alive(job) or job.message_id is None or job.application_id is None:
            return False
        state = self._state(job.id)
        if rank < state.rank or state.token_rejected:
            return False
        state.rank = rank
        async with state.lock:
            if rank < state.rank or state.token_rejected:  # a later stage came, or the token died
                return False
            webhook = discord.Webhook.partial(
                job.application_id, job.interaction_token or "", client=self.bot
            )
            try:
                await webhook.edit_message(job.message_id, **fields)
            except discord.HTTPException as exc:
                log.warning("editing the message of job %d failed: %s", job.id, exc)
                if exc.status == 401:  # the token expired early or was revoked: edits are over
                    state.token_rejected = True
                return False
            state.last_edit = time.monotonic()
            state.edits.append(state.last_edit)
            return True

    def _upload_limit(self, job: Job) -> int:
        if job.upload_limit:
            return job.upload_limit
        guild = self.bot.get_guild(job.guild_id) if job.guild_id else None
        return max(guild.filesize_limit, DEFAULT_UPLOAD_LIMIT) if guild else DEFAULT_UPLOAD_LIMIT

    def _encode(self, outputs: list[OutputRow], limit: int) -> tuple[list[tuple[bytes, str]], str]:
        """The PNGs as they are; re-encoded as JPEG (smaller each round) when over the upload limit."""
        pngs = [(self._read(o), f"likeness-{o.job_id}-{o.idx + 1}-{o.seed}.png") for o in outputs]
        budget = int(limit * 0.95)
        if sum(len(data) for data, _ in pngs) <= budget:
            return pngs, ""
        for quality, scale in ((92, 1.0), (85, 1.0), (80, 0.75), (75, 0.5)):
            jpegs = [
                (_to_jpeg(data, quality, scale), name.removesuffix(".png") + ".jpg") for data, name in pngs
            ]
            if sum(len(data) for data, _ in jpegs) <= budget:
                mib = limit / 2**20
                return jpegs, (
                    f"Re-encoded as JPEG to fit Discord's {mib:.0f} MiB upload limit; "
                    "Info has the full parameters."
                )
        return [], "The images are too large to upload here even as JPEG."

    def _read(self, output: OutputRow) -> bytes:
        return self.bot.services.media.read(output.media, output.ext)


def owner_only(user_id: int) -> discord.AllowedMentions:
    """Ping the job's owner and nobody else (the token expired, so a new message must reach them)."""
    return discord.AllowedMentions(everyone=False, roles=False, users=[discord.Object(user_id)])


def _file(data: bytes, name: str) -> discord.File:
    return discord.File(io.BytesIO(data), filename=name)


def _to_jpeg(png: bytes, quality: int, scale: float) -> bytes:
    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
    if scale != 1.0:
        rgb = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.LANCZOS
        )
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def _token_alive(job: Job) -> bool:
    return (
        bool(job.interaction_token)
        and job.token_expires_at is not None
        and time.time() < job.token_expires_at
    )


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(Delivery(bot))
