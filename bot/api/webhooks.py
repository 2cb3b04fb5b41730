"""Webhooks by the Standard Webhooks spec (https://www.standardwebhooks.com): each delivery is
signed ``v1,`` + base64 HMAC-SHA256 over ``id.timestamp.body`` with the key's secret (the bytes
after ``whsec_``), sent as ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``.

Deliveries come from the durable outbox (``storage.webhooks``): retried with backoff up to
``max_tries``, kept across restarts, one per job and event. The ``webhook-id`` stays the same on
every retry, so a receiver can drop a repeat.

Each try has one deadline for connect, send and answer together, and at most ``MAX_RESPONSE``
bytes of the answer are read. Receivers (scheme, host and port) are sent to concurrently, up to
``receivers`` at once, each in its own lane: one delivery at a time, oldest first, so a receiver
sees a job's events in order and one that is slow holds up only itself.

Redirects are not followed: a 3xx is a failed try. Following one would re-send a signed body to
wherever the receiver points (a 307 or 308 keeps the POST), so the webhook URL must be the final one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bot.actions.apikeys import SECRET_PREFIX
from bot.api.urls import UrlPolicy, origin, read_capped, request
from bot.errors import LikenessError
from bot.metrics.labels import WebhookOutcome
from storage import WebhookDelivery, WebhookOutbox

log = logging.getLogger(__name__)

STARTED, COMPLETED = "job.started", "job.completed"
MAX_RESPONSE = 64 * 1024
IDLE_POLL = 30.0  # seconds between outbox reads when nothing wakes the sender
DEADLINE = 10.0  # seconds for one try: connect, send and answer (below the API's stop grace)
RECEIVERS = 8  # receivers sent to at once
BATCH = 100  # due deliveries read from the outbox at a time


def signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, body: str, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "content-type": "application/json",
        "user-agent": "Likeness-Webhooks",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }


@dataclass(slots=True)
class _Lane:
    """One receiver's claimed deliveries, sent one at a time by ``task``."""

    queue: deque[WebhookDelivery] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


class WebhookSender:
    def __init__(
        self,
        outbox: WebhookOutbox,
        client: httpx.AsyncClient,
        policy: UrlPolicy,
        *,
        max_tries: int,
        base_delay: float = 5.0,
        max_delay: float = 3600.0,
        deadline: float = DEADLINE,
        receivers: int = RECEIVERS,
        on_outcome: Callable[[WebhookOutcome], None] | None = None,
    ) -> None:
        """Try ``n`` waits ``base_delay × 4**(n-1)`` seconds after the one before, at most ``max_delay``.
        ``on_outcome`` hears what each try came to (the metrics), once it is recorded."""
        self.outbox = outbox
        self.client = client
        self.policy = policy
        self.max_tries = max_tries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.deadline = deadline
        self.receivers = receivers
        self.on_outcome = on_outcome
        self._wake = asyncio.Event()
        self._closing = False
        self._lanes: dict[str, _Lane] = {}
        self._claimed: set[int] = set()  # ids in a lane: read again only once recorded
        self._reading = asyncio.Lock()  # one outbox read and claim at a time, so none is claimed twice

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        """Stop after the deliveries in progress are recorded (so a stop never makes one fire twice)."""
        self._closing = True
        self._wake.set()

    async def run(self) -> None:
        """Until closed: start what is due, then sleep until more is due, a lane ends or one is added."""
        try:
            while not self._closing:
                self._wake.clear()  # before the pass: a wake during it makes the wait below return at once
                try:
                    await self._claim_due()
                    full = len(self._lanes) >= self.receivers  # a lane ending wakes the loop
                    due = None if full else await self.outbox.next_due(skip=self._claimed)
                except Exception:
                    log.exception("webhook pass failed")
                    due = None
                if self._closing:  # close() may have run during the awaits above
                    break  # type: ignore[unreachable]  # mypy keeps the loop condition's narrowing across awaits
                wait = IDLE_POLL if due is None else min(IDLE_POLL, max(0.0, due - time.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            await self._settle()
        finally:  # cancelled (the stop's grace ran out): the lanes go too
            lanes = [lane.task for lane in self._lanes.values() if lane.task is not None]
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)

    async def send_due(self) -> int:
        """Send what is due now and wait until each try is recorded; how many were tried."""
        tried = 0
        while not self._closing and (claimed := await self._claim_due()):
            tried += claimed
            await self._settle()
        return tried

    async def _claim_due(self) -> int:
        """Hand due deliveries to their receivers' lanes, starting lanes while there is room."""
        async with self._reading:
            claimed = 0
            for delivery in await self.outbox.due(BATCH, skip=self._claimed):
                if self._closing:
                    break
                key = _origin(delivery.url)
                lane = self._lanes.get(key)
                if lane is None:
                    if len(self._lanes) >= self.receivers:
                        continue  # read again once a lane ends
                    lane = self._lanes[key] = _Lane()
                    lane.task = asyncio.create_task(self._drive(key, lane), name=f"likeness-webhooks {key}")
                    lane.task.add_done_callback(_log_failure)
                lane.queue.append(delivery)
                self._claimed.add(delivery.id)
                claimed += 1
            return claimed

    async def _settle(self) -> None:
        """Wait for every lane to end (each stops after its current try when closing)."""
        while lanes := [lane.task for lane in self._lanes.values() if lane.task is not None]:
            await asyncio.wait(lanes)

    async def _drive(self, key: str, lane: _Lane) -> None:
        try:
            while lane.queue and not self._closing:
                delivery = lane.queue[0]
                await self._deliver(delivery)
                lane.queue.popleft()
                self._claimed.discard(delivery.id)
        finally:
            self._claimed.difference_update(d.id for d in lane.queue)
            del self._lanes[key]
            self._wake.set()

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        if delivery.secret is None:
            await self.outbox.give_up(delivery.id, "the API key was revoked")
            self._heard(WebhookOutcome.GIVEN_UP)
            return
        error = await self._try(delivery, delivery.secret)
        where = _origin(delivery.url)
        if error is None:
            await self.outbox.delivered(delivery.id)
            self._heard(WebhookOutcome.DELIVERED)
            log.info("webhook %s for job %d delivered to %s", delivery.event, delivery.job_id, where)
            return
        tries = delivery.attempts + 1
        if tries >= self.max_tries:
            log.warning(
                "webhook %s for job %d to %s given up after %d tries: %s",
                delivery.event,
                delivery.job_id,
                where,
                tries,
                error,
            )
            await self.outbox.give_up(delivery.id, error)
            self._heard(WebhookOutcome.GIVEN_UP)
        else:
            delay = min(self.max_delay, self.base_delay * 4 ** (tries - 1))
            log.info(
                "webhook %s for job %d to %s failed (%s); again in %.0f s",
                delivery.event,
                delivery.job_id,
                where,
                error,
                delay,
            )
            await self.outbox.retry_later(delivery.id, delay, error)
            self._heard(WebhookOutcome.RETRYING)

    def _heard(self, outcome: WebhookOutcome) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    async def _try(self, delivery: WebhookDelivery, secret: str) -> str | None:
        """One POST within the deadline: None when accepted, else why not (never the URL itself)."""
        msg_id = f"msg_likeness_{delivery.id}"
        try:
            async with (
                asyncio.timeout(self.deadline),
                request(
                    self.client,
                    "POST",
                    delivery.url,
                    self.policy,
                    "webhook",
                    schemes=self.policy.webhook_schemes,
                    content=delivery.body.encode(),
                    headers=headers(secret, msg_id, delivery.body),
                ) as (target, response),
            ):
                await read_capped(response, MAX_RESPONSE)
        except TimeoutError:
            return f"no answer within {self.deadline:g} s"
        except httpx.TimeoutException as exc:
            return f"timed out ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            return f"could not be sent ({type(exc).__name__})"
        except LikenessError as exc:
            return str(exc)
        status = response.status_code
        if 200 <= status < 300:
            return None
        if 300 <= status < 400:
            return (
                f"answered {status} ({_redirect(target, response)}; webhooks do not follow redirects: "
                "give the final URL)"
            )
        return f"answered {status}"


def _redirect(target: httpx.URL, response: httpx.Response) -> str:
    """A redirect named by its target's origin: most likely the webhook URL to give instead."""
    try:
        return f"a redirect to {origin(target.join(response.headers['location']))}"
    except (KeyError, httpx.InvalidURL):
        return "a redirect"


def _origin(url: str) -> str:
    """A delivery's receiver: its lane's key, and what log lines name."""
    try:
        return origin(httpx.URL(url))
    except (httpx.InvalidURL, TypeError):
        return "(not a URL)"


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("webhook lane %s failed", task.get_name(), exc_info=task.exception())
