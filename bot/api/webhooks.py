"""Webhooks by the Standard Webhooks spec (https://www.standardwebhooks.com): each delivery is
signed ``v1,`` + base64 HMAC-SHA256 over ``id.timestamp.body`` with the key's secret (the bytes
after ``whsec_``), sent as ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``.

Deliveries come from the durable outbox (``storage.webhooks``): retried with backoff up to
``max_tries``, kept across restarts, one per job and event. The ``webhook-id`` stays the same on
every retry, so a receiver can drop a repeat.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import time

import httpx

from bot.actions.apikeys import SECRET_PREFIX
from bot.api.urls import UrlPolicy, send
from bot.errors import LikenessError
from storage import WebhookDelivery, WebhookOutbox

log = logging.getLogger(__name__)

STARTED, COMPLETED = "job.started", "job.completed"
MAX_RESPONSE = 64 * 1024
IDLE_POLL = 30.0  # seconds between outbox reads when nothing wakes the sender


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
    ) -> None:
        """Try ``n`` waits ``base_delay × 4**(n-1)`` seconds after the one before, at most ``max_delay``."""
        self.outbox = outbox
        self.client = client
        self.policy = policy
        self.max_tries = max_tries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._wake = asyncio.Event()
        self._closing = False

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        """Stop after the delivery in progress is recorded (so a stop never makes it fire twice)."""
        self._closing = True
        self._wake.set()

    async def run(self) -> None:
        """Until closed: send what is due, then sleep until the next is due or a new one comes."""
        while not self._closing:
            self._wake.clear()  # before the pass: a wake during it makes the wait below return at once
            try:
                await self.send_due()
                due = await self.outbox.next_due()
            except Exception:
                log.exception("webhook pass failed")
                due = None
            if self._closing:  # close() may have run during the awaits above
                break  # type: ignore[unreachable]  # mypy keeps the loop condition's narrowing across awaits
            wait = IDLE_POLL if due is None else min(IDLE_POLL, max(0.0, due - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def send_due(self) -> int:
        sent = 0
        for delivery in await self.outbox.due():
            if self._closing:
                break
            await self._deliver(delivery)
            sent += 1
        return sent

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        if delivery.secret is None:
            await self.outbox.give_up(delivery.id, "the API key was revoked")
            return
        msg_id = f"msg_likeness_{delivery.id}"
        error = None
        try:
            response, _ = await send(
                self.client,
                "POST",
                delivery.url,
                self.policy,
                "webhook",
                max_bytes=MAX_RESPONSE,
                content=delivery.body.encode(),
                headers=headers(delivery.secret, msg_id, delivery.body),
            )
            if 200 <= response.status_code < 300:
                await self.outbox.delivered(delivery.id)
                log.info("webhook %s for job %d delivered", delivery.event, delivery.job_id)
                return
            error = f"answered {response.status_code}"
        except (httpx.HTTPError, LikenessError) as exc:
            error = str(exc) or type(exc).__name__
        tries = delivery.attempts + 1
        if tries >= self.max_tries:
            log.warning(
                "webhook %s for job %d given up after %d tries: %s",
                delivery.event,
                delivery.job_id,
                tries,
                error,
            )
            await self.outbox.give_up(delivery.id, error)
        else:
            delay = min(self.max_delay, self.base_delay * 4 ** (tries - 1))
            log.info(
                "webhook %s for job %d failed (%s); again in %.0f s",
                delivery.event,
                delivery.job_id,
                error,
                delay,
            )
            await self.outbox.retry_later(delivery.id, delay, error)
