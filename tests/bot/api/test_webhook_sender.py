"""The webhook sender on the real outbox, against local receivers: one try's deadline, receivers
sent to side by side, redirects not followed, https at send time, and no URL's secrets in what it
records or logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bot.actions.apikeys import NewKey
from bot.api.urls import TIMEOUT, UrlPolicy
from bot.api.webhooks import WebhookSender
from bot.app.services import Services
from bot.tiny import TinyBundle
from tests.bot.api.harness import api_settings
from tests.bot.api.names import resolver
from tests.bot.api.receiver import running_receiver
from tests.storage.helpers import add

LOCAL = UrlPolicy(allow_private=True)


@dataclass
class Outbox:
    services: Services
    key: NewKey

    async def add(self, url: str, event: str = "job.started") -> int:
        """A delivery of ``event`` for a new job; the job's id."""
        job = await add(self.services.jobs, 1)
        body = json.dumps({"id": job.id, "event": event})
        assert await self.services.webhooks.enqueue(job.id, event, url, self.key.row.id, body)
        return job.id

    async def settled(self, job_id: int, timeout: float = 10) -> dict[str, Any]:
        """The delivery's row once its first try is recorded."""
        async with asyncio.timeout(timeout):
            while not (state := await self.services.webhooks.get(job_id, "job.started"))["attempts"]:
                await asyncio.sleep(0.02)
        return state


@pytest_asyncio.fixture
async def outbox(tiny_bundle: TinyBundle, data_dir: Path) -> AsyncIterator[Outbox]:
    services = await Services.open(api_settings(tiny_bundle, data_dir))
    try:
        yield Outbox(services, await services.keys.create(1))
    finally:
        await services.close()


@contextlib.asynccontextmanager
async def sender(
    outbox: Outbox, policy: UrlPolicy = LOCAL, client: httpx.AsyncClient | None = None, **options: Any
) -> AsyncIterator[WebhookSender]:
    async with client or httpx.AsyncClient(timeout=TIMEOUT) as http:
        yield WebhookSender(outbox.services.webhooks, http, policy, max_tries=3, base_delay=60, **options)


async def test_a_dripping_receiver_does_not_hold_up_a_healthy_one(outbox: Outbox) -> None:
    async with running_receiver() as slow, running_receiver() as healthy, sender(outbox, deadline=3) as s:
        dripped = await outbox.add(f"{slow.base}/drip")  # the older: sent first
        await outbox.add(f"{healthy.base}/hook")
        running = asyncio.create_task(s.run())
        try:
            await slow.wait_hooks(1, timeout=5)
            await healthy.wait_hooks(1, timeout=2)  # well before the dripping try's deadline
            state = await outbox.settled(dripped)
        finally:
            s.close()
            await asyncio.wait_for(running, 10)
    assert state["last_error"] == "no answer within 3 s" and state["delivered_at"] is None
    assert state["gave_up_at"] is None  # a failed try: the backoff sends it again


async def test_closing_waits_until_the_try_in_progress_is_recorded(outbox: Outbox) -> None:
    """So a stop never leaves a sent delivery unrecorded, to fire again at the next start."""
    async with running_receiver() as slow, sender(outbox, deadline=1) as s:
        job_id = await outbox.add(f"{slow.base}/drip")
        running = asyncio.create_task(s.run())
        await slow.wait_hooks(1, timeout=5)
        s.close()
        await asyncio.wait_for(running, 5)
        state = await outbox.services.webhooks.get(job_id, "job.started")
    assert state is not None and state["attempts"] == 1
    assert state["last_error"] == "no answer within 1 s"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirecting_receiver_is_a_failed_try_and_never_followed(outbox: Outbox, status: int) -> None:
    async with running_receiver() as first, running_receiver() as second, sender(outbox) as s:
        job_id = await outbox.add(f"{first.base}/redirect?status={status}&to={second.base}/hook")
        assert await s.send_due() == 1
        state = await outbox.settled(job_id)
        assert second.hooks == []  # the signed body went nowhere else
    assert state["last_error"] == (
        f"answered {status} (a redirect to {second.base}; webhooks do not follow redirects: "
        "give the final URL)"
    )


async def test_an_http_webhook_is_refused_at_send_time_unless_private_urls_are_allowed(
    outbox: Outbox,
) -> None:
    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(204)

    public = UrlPolicy(resolve=resolver({"hooks.example": "93.184.215.14"}))
    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with sender(outbox, public, client) as s:
        job_id = await outbox.add("http://hooks.example/hook")
        await s.send_due()
        assert (await outbox.settled(job_id))["last_error"] == "the webhook must be an https:// URL"
        assert asked == []
        delivered = await outbox.add("https://hooks.example/hook", "job.started")
        await s.send_due()
        assert (await outbox.settled(delivered))["delivered_at"] is not None
        # sent to the address the check approved, the name kept for the receiver and for TLS
        assert [(str(r.url), r.headers["host"]) for r in asked] == [
            ("https://93.184.215.14/hook", "hooks.example")
        ]
        assert asked[0].extensions["sni_hostname"] == "hooks.example"


async def test_no_secret_of_a_webhook_url_reaches_last_error_or_the_logs(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the bot's level; at DEBUG the libraries log requests verbatim
    secret = "user:PASSWORD@"
    async with running_receiver() as first, running_receiver() as second:
        second.answers = [500]
        closed = f"http://{secret}127.0.0.1:9/hook?token=SECRET"  # port 9 (discard): nothing listens
        hop = f"http://{secret}127.0.0.1:{second.base.rsplit(':', 1)[1]}/hook?token=SECRET"
        cases = {
            "refused": (UrlPolicy(), f"https://{secret}127.0.0.1/hook?token=SECRET"),
            "not a URL": (LOCAL, "https://[::1/hook?token=SECRET"),
            "cannot connect": (LOCAL, closed),
            "answers 500": (LOCAL, f"http://{secret}{second.base.removeprefix('http://')}/hook?token=SECRET"),
            "redirects": (
                LOCAL,
                f"http://{secret}{first.base.removeprefix('http://')}/redirect?status=307&"
                + str(httpx.QueryParams({"to": hop, "token": "SECRET"})),
            ),
        }
        errors = {}
        for name, (policy, url) in cases.items():
            async with sender(outbox, policy) as s:
                job_id = await outbox.add(url)
                await s.send_due()
                errors[name] = (await outbox.settled(job_id))["last_error"]
    assert errors["refused"].startswith("the webhook's host “127.0.0.1” is a private")
    assert errors["not a URL"] == "the webhook is not a URL"
    assert errors["cannot connect"] == "could not be sent (ConnectError)"
    assert errors["answers 500"] == "answered 500"
    assert errors["redirects"].startswith(f"answered 307 (a redirect to {second.base};")
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp"))
    assert "127.0.0.1" in logged  # the bot's log (not the receivers') names the receivers' hosts ...
    for text in (*errors.values(), logged):
        assert "SECRET" not in text and "PASSWORD" not in text  # ... and nothing else of their URLs
