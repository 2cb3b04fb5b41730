"""The API on real sockets: ``python -m bot api`` alone (live progress over SSE), and
``python -m bot run`` serving Discord and the API from one queue, where a user's Discord and API
jobs share one fair turn and one limit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from pathlib import Path

import httpx
import pytest

from bot.api.standalone import serve_alone
from bot.cli import main
from bot.cli.run import serve
from bot.tiny import TinyBundle
from tests.bot.api.harness import api_settings, photo
from tests.cogs.harness import EngineControl, generate, wait_job_message
from tests.fakediscord import FakeDiscord


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def new_key(
    tiny_bundle: TinyBundle, data_dir: Path, user: int, capsys: pytest.CaptureFixture[str]
) -> str:
    """``python -m bot api-key create``: the key alone on the first line, its secret on the second."""
    capsys.readouterr()
    argv = ["--env-file", str(tiny_bundle.env_file), "api-key", "create", "--user", str(user)]
    assert await asyncio.to_thread(main, argv) == 0
    key, secret = capsys.readouterr().out.splitlines()
    assert key.startswith("lk_") and secret.startswith("whsec_")
    return key


async def test_the_api_alone_streams_live_progress(
    tiny_bundle: TinyBundle,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    engine_control: EngineControl,
) -> None:
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(data_dir))
    key = await new_key(tiny_bundle, data_dir, 5, capsys)
    port = free_port()
    settings = api_settings(tiny_bundle, data_dir, api_port=port, default_steps=6)
    ready = asyncio.Event()
    server = asyncio.create_task(serve_alone(settings, "127.0.0.1", port, ready=ready))
    try:
        async with asyncio.timeout(60):
            await ready.wait()
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            assert (await client.get("/v1/health")).json()["ok"] is True
            engine_control.step_delay = 0.1
            job = (
                await client.post(
                    "/v1/jobs",
                    data={"prompt": "a comet"},
                    files={"image": ("a.png", photo())},
                    headers=headers,
                )
            ).json()
            events: list[tuple[str, dict[str, object]]] = []
            async with client.stream("GET", f"/v1/jobs/{job['id']}/events", headers=headers) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                kind = ""
                async for line in stream.aiter_lines():
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        events.append((kind, json.loads(line.removeprefix("data: "))))
            kinds = [k for k, _ in events]
            assert kinds[-1] == "completed" and kinds.count("completed") == 1
            steps = [int(str(d["step"])) for k, d in events if k == "progress"]
            assert len(steps) >= 3 and steps == sorted(steps) and steps[-1] >= 1  # live steps, in order
            assert events[-1][1]["status"] == "succeeded"
            png = await client.get(f"/v1/jobs/{job['id']}/outputs/0", headers=headers)
            assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server


async def test_run_serves_discord_and_the_api_from_one_fair_queue(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    engine_control: EngineControl,
) -> None:
    fake = fake_discord
    fake.install()
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(data_dir))
    alice, bob = fake.user, fake.add_user("bob")
    alice_key = await new_key(tiny_bundle, data_dir, alice.id, capsys)
    bob_key = await new_key(tiny_bundle, data_dir, bob.id, capsys)
    port = free_port()
    settings = api_settings(
        tiny_bundle, data_dir, api_port=port, discord_token="fake-bot-token", queue_per_user=3
    )
    bot = asyncio.create_task(serve(settings, guild_ready_timeout=0.02))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            async with asyncio.timeout(60):
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/v1/health")).status_code == 200 and fake.synced_commands:
                            break
                    await asyncio.sleep(0.05)
            engine_control.hold()
            await generate(fake, alice, "alice discord 1")
            await engine_control.wait_held()

            async def submit(key: str, prompt: str) -> httpx.Response:
                return await client.post(
                    "/v1/jobs", json={"prompt": prompt}, headers={"Authorization": f"Bearer {key}"}
                )

            assert (await submit(alice_key, "alice api")).status_code == 202
            await wait_job_message(await generate(fake, alice, "alice discord 2"))
            assert (await submit(bob_key, "bob api")).status_code == 202
            full = await submit(alice_key, "alice api 2")  # 3 of hers wait or run, from both surfaces
            assert full.status_code == 429 and "the limit is 3" in full.json()["error"]["message"]
            listed = (await client.get("/v1/jobs", headers={"Authorization": f"Bearer {alice_key}"})).json()
            assert len(listed["jobs"]) == 3  # her Discord jobs are her history too
            engine_control.release()
            async with asyncio.timeout(60):
                while len(engine_control.runs) < 4:
                    await asyncio.sleep(0.05)
            # Bob was never served, so his job goes before Alice's second and third.
            assert engine_control.runs == ["alice discord 1", "bob api", "alice api", "alice discord 2"]
    finally:
        bot.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bot
