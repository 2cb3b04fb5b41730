"""Rate limits past one key: a user's keys together, and failed authentications per client address;
and what ``/v1/health`` shows with and without a key."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bot.api.limits import FailedAuths
from bot.tiny import TinyBundle
from tests.bot.api.harness import BASE, ApiHarness, api_settings, running_api


@contextlib.asynccontextmanager
async def client_from(api: ApiHarness, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``address`` (the harness's come from 127.0.0.1)."""
    transport = httpx.ASGITransport(app=api.api.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


async def test_a_users_keys_share_one_rate(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    settings = api_settings(tiny_bundle, data_dir, api_rate_limit=30, api_user_rate_limit=40)
    async with running_api(settings, start_queue=False) as api:
        first, second = await api.key(1, "a"), await api.key(1, "b")
        assert [(await api.client.get("/v1/jobs", headers=first)).status_code for _ in range(30)] == [
            200
        ] * 30
        assert [(await api.client.get("/v1/jobs", headers=second)).status_code for _ in range(10)] == [
            200
        ] * 10
        limited = await api.client.get("/v1/jobs", headers=second)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        error = limited.json()["error"]
        assert error == {
            "code": "rate_limited",
            "message": "too many requests: your keys together may make 40 a minute",
        }
        assert (await api.client.get("/v1/jobs", headers=await api.key(2))).status_code == 200


async def test_failed_keys_lock_out_their_address_only(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    settings = api_settings(tiny_bundle, data_dir, api_auth_failures=3)
    async with running_api(settings, start_queue=False) as api:
        good = await api.key(1)
        assert (await api.client.get("/v1/jobs", headers=good)).status_code == 200
        for n in range(3):
            wrong = await api.client.get("/v1/jobs", headers={"Authorization": f"Bearer lk_guess{n}"})
            assert wrong.status_code == 401
        locked = await api.client.get("/v1/jobs", headers=good)  # even the right key, for the window
        assert locked.status_code == 429, locked.text
        assert 1 <= int(locked.headers["retry-after"]) <= 600
        assert locked.json()["error"]["message"] == (
            "too many unknown or revoked API keys from your address (3 in 10 minutes): "
            "no key is accepted from it for now"
        )
        assert (await api.client.get("/v1/jobs")).status_code == 401  # no key: nothing was tried
        async with client_from(api, "203.0.113.9") as elsewhere:
            assert (await elsewhere.get("/v1/jobs", headers=good)).status_code == 200


def test_a_lockout_ends_when_its_oldest_failure_leaves_the_window() -> None:
    now = [1000.0]
    failures = FailedAuths(2, window=60, clock=lambda: now[0])
    failures.failed("a")
    now[0] += 10
    failures.failed("a")
    assert failures.wait("a") == 50 and failures.wait("b") == 0
    now[0] += 50
    assert failures.wait("a") == 0  # the first failure left the window: one more try
    failures.failed("a")
    assert failures.wait("a") == 10


async def test_health_shows_worker_details_only_with_a_key(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        reason = "the weights in /srv/likeness/models/sd15 cannot be read"
        api.services.queue._down(reason)  # as the dispatcher records a worker that cannot load
        public = await api.client.get("/v1/health")
        assert public.status_code == 200
        assert public.json() == {
            "ok": False,
            "model_loaded": True,
            "worker_alive": False,
            "queue_length": 0,
            "workers_ready": 1,
            "workers_total": 1,
            "worker_down_reason": None,
            "workers": None,
        }
        detailed = (await api.client.get("/v1/health", headers=await api.key(1))).json()
        assert detailed["worker_down_reason"] == reason
        [worker] = detailed["workers"]
        assert worker["ready"] is True and worker["name"]
        wrong = await api.client.get("/v1/health", headers={"Authorization": "Bearer lk_wrong"})
        assert wrong.status_code == 401
