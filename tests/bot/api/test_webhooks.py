"""Webhooks by the Standard Webhooks spec, checked with its own reference library; retries; the outbox
across a restart; and the URL rules (SSRF) for webhooks and image URLs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bot.api.urls import UrlPolicy, UrlRefused, check_url, get
from bot.tiny import TinyBundle
from tests.bot.api.harness import api_settings, photo, running_api
from tests.bot.api.names import resolver
from tests.bot.api.receiver import running_receiver
from tests.bot.engine.helpers import box_mask, png_bytes
from tests.cogs.harness import EngineControl


async def test_started_and_completed_arrive_signed(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    settings = api_settings(tiny_bundle, data_dir, api_allow_private_urls=True)
    async with running_receiver() as receiver, running_api(settings) as api:
        new = await api.services.keys.create(1)
        key = {"Authorization": f"Bearer {new.key}"}
        response = await api.submit(key, prompt="a comet", webhook=f"{receiver.base}/hook")
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        hooks = await receiver.wait_hooks(2)
        verifier = Webhook(new.webhook_secret)  # an independent implementation of the spec
        bodies = [verifier.verify(h.body, h.headers) for h in hooks]
        assert [b["event"] for b in bodies] == ["job.started", "job.completed"]
        assert all(b["id"] == job_id for b in bodies)
        assert bodies[0]["status"] == "running"
        completed = bodies[1]
        assert completed["status"] == "succeeded" and completed["outputs"][0]["index"] == 0
        assert completed["outputs"][0]["url"].endswith(f"/v1/jobs/{job_id}/outputs/0")
        assert hooks[0].headers["webhook-id"] != hooks[1].headers["webhook-id"]
        tampered = dict(hooks[1].headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new.webhook_secret).verify(hooks[1].body + b" ", tampered)
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "QUJD" * 8).verify(hooks[1].body, tampered)


async def test_a_failing_receiver_is_retried_with_the_same_id(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    settings = api_settings(tiny_bundle, data_dir, api_allow_private_urls=True, webhook_max_tries=3)
    async with running_receiver() as receiver, running_api(settings) as api:
        receiver.answers = [500, 503]  # started fails twice, then everything is accepted
        new = await api.services.keys.create(1)
        key = {"Authorization": f"Bearer {new.key}"}
        job_id = (await api.submit(key, prompt="a kite", webhook=f"{receiver.base}/hook")).json()["id"]
        hooks = await receiver.wait_hooks(4)
        events = [json.loads(h.body)["event"] for h in hooks]
        assert events.count("job.started") == 3 and events.count("job.completed") == 1
        started = [h for h in hooks if json.loads(h.body)["event"] == "job.started"]
        assert len({h.headers["webhook-id"] for h in started}) == 1  # a retry is the same message
        for h in hooks:
            Webhook(new.webhook_secret).verify(h.body, h.headers)
        state = await api.webhook_settled(job_id, "job.started")
        assert state["attempts"] == 3 and state["delivered_at"] is not None


async def test_a_receiver_that_never_accepts_is_given_up(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    settings = api_settings(tiny_bundle, data_dir, api_allow_private_urls=True, webhook_max_tries=2)
    async with running_receiver() as receiver, running_api(settings) as api:
        receiver.answers = [500] * 10
        key = await api.key(1)
        job_id = (await api.submit(key, prompt="a kite", webhook=f"{receiver.base}/hook")).json()["id"]
        await receiver.wait_hooks(4)
        await api.wait_for(key, job_id, "succeeded")
        for event in ("job.started", "job.completed"):
            state = await api.webhook_settled(job_id, event)
            assert state["attempts"] == 2 and state["gave_up_at"] is not None
            assert state["last_error"] == "answered 500"
        assert len(receiver.hooks) == 4


async def test_queued_api_jobs_survive_a_restart_and_their_webhooks_fire_once(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    settings = api_settings(tiny_bundle, data_dir, api_allow_private_urls=True)
    async with running_receiver() as receiver:
        async with running_api(settings, start_queue=False) as api:  # the worker never starts: jobs wait
            new = await api.services.keys.create(1)
            key = {"Authorization": f"Bearer {new.key}"}
            ids = [
                (await api.submit(key, photo(), prompt=f"scene {i}", webhook=f"{receiver.base}/hook")).json()[
                    "id"
                ]
                for i in range(2)
            ]
        assert receiver.hooks == []
        async with running_api(settings) as api:
            for job_id in ids:
                assert (await api.wait_for(key, job_id, "succeeded"))["outputs"]
            hooks = await receiver.wait_hooks(4)
        async with running_api(settings) as api:  # a third start sends nothing again
            await api.api.sender.send_due()
            assert await api.services.webhooks.finished_without("job.completed") == []
        bodies = [Webhook(new.webhook_secret).verify(h.body, h.headers) for h in hooks]
        fired = sorted((b["id"], b["event"]) for b in bodies)
        assert fired == sorted((i, e) for i in ids for e in ("job.started", "job.completed"))
        assert len(receiver.hooks) == 4


async def test_a_completion_missed_while_stopped_is_sent_on_the_next_start(
    tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    settings = api_settings(tiny_bundle, data_dir, api_allow_private_urls=True)
    async with running_receiver() as receiver:
        async with running_api(settings) as api:
            new = await api.services.keys.create(1)
            key = {"Authorization": f"Bearer {new.key}"}
            job_id = (await api.submit(key, prompt="a kite", webhook=f"{receiver.base}/hook")).json()["id"]
            await api.wait_for(key, job_id, "succeeded")
            await receiver.wait_hooks(2)
            # As if the bot stopped between the job's end and the outbox write:
            await api.services.db.execute("DELETE FROM webhook_deliveries WHERE event = 'job.completed'")
        async with running_api(settings) as api:
            hooks = await receiver.wait_hooks(3)
        assert json.loads(hooks[2].body)["event"] == "job.completed"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.8/hook",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
    ],
)
async def test_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(UrlRefused, match="private, loopback or link-local"):
        await check_url(url, UrlPolicy(), "webhook")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/a.png", "must be an http:// or https:// URL"),
        ("file:///etc/passwd", "must be an http:// or https:// URL"),
        ("http://", "must be an http:// or https:// URL"),
        ("http://no-such-host.invalid/a.png", "does not resolve"),
    ],
)
async def test_other_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(UrlRefused, match=message):
        await check_url(url, UrlPolicy(), "image_url")


async def test_the_api_refuses_private_urls_and_allows_them_when_set(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    async with running_receiver() as receiver:
        receiver.files["cat.png"] = photo()
        async with running_api(api_settings(tiny_bundle, data_dir)) as api:
            key = await api.key(1)
            for fields in (
                {"prompt": "a cat", "webhook": f"{receiver.base.replace('http:', 'https:')}/hook"},
                {"prompt": "a cat", "image_url": f"{receiver.base}/files/cat.png"},
                {"prompt": "a cat", "referenceImageUrl": "http://169.254.169.254/latest"},
            ):
                refused = await api.client.post("/v1/jobs", json=fields, headers=key)
                assert refused.status_code == 422, refused.text
                assert "private, loopback or link-local" in refused.json()["error"]["message"]
            assert receiver.hooks == [] and await api.services.jobs.user_jobs(1) == []
        allowed = api_settings(tiny_bundle, data_dir, api_allow_private_urls=True)
        async with running_api(allowed) as api:
            key = await api.key(2)
            by_url = await api.client.post(
                "/v1/jobs",
                json={"prompt": "a cat", "referenceImageUrl": f"{receiver.base}/files/cat.png"},
                headers=key,
            )
            assert by_url.status_code == 202, by_url.text
            job = await api.wait_for(key, by_url.json()["id"], "succeeded")
            assert job["parameters"]["mode"] == "img2img"
            receiver.files["mask.png"] = png_bytes(box_mask(64, 64, (16, 16, 48, 48)))
            inpaint = await api.client.post(
                "/v1/jobs",
                json={
                    "prompt": "a cat",
                    "mode": "inpaint",
                    "image_url": f"{receiver.base}/files/cat.png",
                    "mask_url": f"{receiver.base}/files/mask.png",
                },
                headers=key,
            )
            assert inpaint.status_code == 202, inpaint.text
            assert (await api.wait_for(key, inpaint.json()["id"], "succeeded"))["parameters"][
                "mode"
            ] == "inpaint"
            missing = await api.client.post(
                "/v1/jobs",
                json={"prompt": "a cat", "image_url": f"{receiver.base}/files/none.png"},
                headers=key,
            )
            assert (
                missing.status_code == 400 and "its server answered 404" in missing.json()["error"]["message"]
            )
            huge = await api.client.post(
                "/v1/jobs", json={"prompt": "a cat", "image_url": f"{receiver.base}/endless"}, headers=key
            )
            assert huge.status_code == 400 and "is over 25 MiB" in huge.json()["error"]["message"]


async def test_a_public_host_that_redirects_to_loopback_is_refused_at_the_hop() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers["host"] + request.url.path)
        if request.headers["host"] == "public.example":
            return httpx.Response(302, headers={"location": "http://127.0.0.1:8080/cat.png"})
        return httpx.Response(200, content=photo())  # what loopback would hand out

    public = UrlPolicy(resolve=resolver({"public.example": "93.184.215.14"}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(UrlRefused, match=r"“127\.0\.0\.1” is a private"):
            await get(client, "https://public.example/cat.png", public, "image_url", max_bytes=2**20)
    assert asked == ["public.example/cat.png"]  # the first hop was fetched; the second never


async def test_the_api_refuses_an_http_webhook(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        refused = await api.submit(key, prompt="a cat", webhook="http://hooks.example/hook")
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["message"] == "the webhook must be an https:// URL"
        assert await api.services.jobs.user_jobs(1) == []
