"""The queue's events for API clients: progress for polls and ``/events`` streams, and the
``job.started`` / ``job.completed`` webhooks of jobs that named one (written to the outbox, then
sent by ``WebhookSender``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import Any

from bot.api.views import JobViews
from bot.api.webhooks import COMPLETED, STARTED, WebhookSender
from bot.jobs import GenerationResult
from bot.running.queue import Job, Ticket
from storage import WebhookOutbox

log = logging.getLogger(__name__)

Event = tuple[str, Any]  # ("progress", {"step", "total"}) or ("completed", JobView)
KEY_CHECK = 2.0  # seconds between checks that an open stream's key still holds


def _json(model: str) -> dict[str, Any]:
    return {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"$ref": f"#/components/schemas/{model}"},
    }


# One event of a job's ``/events`` stream, for /openapi.json. OpenAPI 3.1 has no ``itemSchema``: an
# event stream's ``schema`` describes one event (the fields of its ``event:``, ``data:``, ``id:`` lines).
STREAM_EVENT: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "description": "while the job waits or runs: its step",
            "required": ["event", "data"],
            "properties": {"event": {"const": "progress"}, "data": _json("Progress")},
        },
        {
            "type": "object",
            "description": "the job ended (the job object); the stream ends with it",
            "required": ["event", "data", "id"],
            "properties": {
                "event": {"const": "completed"},
                "data": _json("JobView"),
                "id": {"type": "string", "description": "the job's id"},
            },
        },
    ]
}


class ApiEvents:
    def __init__(
        self,
        views: JobViews,
        outbox: WebhookOutbox,
        sender: WebhookSender,
        allows_nsfw: Callable[[int], Awaitable[bool]] | None = None,
    ) -> None:
        """``allows_nsfw``: whether an API key (by id) allows flagged outputs, for its webhooks' bodies."""
        self.views = views
        self.allows_nsfw = allows_nsfw
        self.outbox = outbox
        self.sender = sender
        self._streams: dict[int, set[asyncio.Queue[Event]]] = {}

    # -- the queue's events ---------------------------------------------------------------------
    async def job_queued(self, ticket: Ticket) -> None:
        return None

    async def job_started(self, job: Job) -> None:
        total = job.params.steps or 0
        self.views.progress[job.id] = (0, total)
        self._publish(job.id, ("progress", {"step": 0, "total": total}))
        await self._webhook(job, STARTED)

    async def job_progress(self, job: Job, step: int, total: int) -> None:
        self.views.progress[job.id] = (step, total)
        self._publish(job.id, ("progress", {"step": step, "total": total}))

    async def job_finished(self, job: Job, result: GenerationResult | None) -> None:
        self.views.progress.pop(job.id, None)
        if job.id in self._streams or (job.api_key_id is not None and job.webhook_url):
            view = await self.views.view(job, allows_nsfw=await self._allows(job))
            self._publish(job.id, ("completed", view))
            await self._webhook(job, COMPLETED, view.model_dump(mode="json"))

    # -- webhooks -------------------------------------------------------------------------------
    async def _webhook(self, job: Job, event: str, view: dict[str, Any] | None = None) -> None:
        if job.api_key_id is None or not job.webhook_url:
            return
        if view is None:
            view = (await self.views.view(job, allows_nsfw=await self._allows(job))).model_dump(mode="json")
        body = json.dumps({"event": event, **view}, separators=(",", ":"))
        if await self.outbox.enqueue(job.id, event, job.webhook_url, job.api_key_id, body):
            self.sender.wake()

    async def _allows(self, job: Job) -> bool:
        """Whether the key that queued ``job`` allows flagged outputs (a stream re-renders for its own)."""
        if job.api_key_id is None or self.allows_nsfw is None:
            return False
        return await self.allows_nsfw(job.api_key_id)

    async def recover(self) -> int:
        """Completion webhooks of jobs that finished while no API was listening (the bot stopped in
        between, or ran without the API); each is queued once."""
        queued = 0
        for job_id in await self.outbox.finished_without(COMPLETED):
            job = await self.views.queue.repo.get(job_id)
            if job is not None:
                await self._webhook(job, COMPLETED)
                queued += 1
        if queued:
            log.info("queued %d completion webhook(s) missed while the API was not running", queued)
        return queued

    # -- streams --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def stream(self, job_id: int) -> Iterator[asyncio.Queue[Event]]:
        """Events of one job while the ``with`` lasts (an /events client)."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=256)
        self._streams.setdefault(job_id, set()).add(queue)
        try:
            yield queue
        finally:
            streams = self._streams.get(job_id, set())
            streams.discard(queue)
            if not streams:
                self._streams.pop(job_id, None)

    @staticmethod
    async def while_key_holds(
        queue: asyncio.Queue[Event], holds: Callable[[], Awaitable[bool]]
    ) -> AsyncGenerator[Event, None]:
        """The stream's events until its key no longer holds (revoked, or its user forgotten,
        perhaps by another process: so asked of the database every ``KEY_CHECK`` seconds, however
        many events arrive meanwhile)."""
        next_check = time.monotonic() + KEY_CHECK
        while True:
            if time.monotonic() >= next_check:
                if not await holds():
                    return
                next_check = time.monotonic() + KEY_CHECK
            try:
                event = await asyncio.wait_for(queue.get(), next_check - time.monotonic())
            except TimeoutError:
                continue
            yield event

    def _publish(self, job_id: int, event: Event) -> None:
        for queue in self._streams.get(job_id, ()):
            if queue.full() and event[0] == "progress":
                continue  # a slow reader misses steps, never the completion
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)
