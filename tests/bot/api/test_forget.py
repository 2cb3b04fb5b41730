"""``DELETE /v1/me`` forgets the caller as ``/forget-me`` does; ``forget-user`` does it for an operator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app.settings import load_settings
from bot.cli import main
from bot.tiny import TinyBundle
from storage import Database
from tests.bot.api.harness import api_settings, photo, running_api
from tests.bot.engine.helpers import face_photo
from tests.cogs.harness import EngineControl


async def test_delete_me_forgets_the_caller_and_only_them(
    tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir, queue_per_user=5)) as api:
        alice, bob = await api.key(1), await api.key(2)
        files = {"image": ("face.png", face_photo(1), "image/png")}
        assert (
            await api.client.post("/v1/characters", data={"name": "Mara"}, files=files, headers=alice)
        ).status_code == 201
        done = (await api.submit(alice, photo(), prompt="a meadow")).json()["id"]
        await api.wait_for(alice, done, "succeeded")
        theirs = (await api.submit(bob, prompt="bob's harbour")).json()["id"]
        await api.wait_for(bob, theirs, "succeeded")
        engine_control.hold()
        running = (await api.submit(alice, prompt="stopped by forgetting")).json()["id"]
        await engine_control.wait_held()
        queued = (await api.submit(alice, prompt="never runs")).json()["id"]
        engine_control.release()  # the running job stops at its next step, as it was cancelled

        forgotten = await api.client.delete("/v1/me", headers=alice)
        assert forgotten.status_code == 200
        assert forgotten.json() == {"characters": 1, "images": 1, "jobs": 3, "outputs": 1, "files": 3}
        assert (await api.client.get("/v1/jobs", headers=alice)).status_code == 401  # keys go too
        assert [await api.services.jobs.get(j) for j in (done, running, queued)] == [None, None, None]
        assert (await api.client.get(f"/v1/jobs/{theirs}", headers=bob)).json()["status"] == "succeeded"
        assert await api.services.characters.repo.list(1) == []
    assert engine_control.runs == ["a meadow", "bob's harbour", "stopped by forgetting"]


def test_forget_user_on_the_command_line(
    tiny_bundle: TinyBundle,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:

    settings = load_settings(tiny_bundle.env_file, data_dir=data_dir)

    async def seed() -> None:
        async with running_api(api_settings(tiny_bundle, data_dir)) as api:
            key = await api.key(7)
            job = (await api.submit(key, prompt="a lighthouse")).json()["id"]
            await api.wait_for(key, job, "succeeded")

    asyncio.run(seed())
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(data_dir))
    env = ["--env-file", str(tiny_bundle.env_file)]
    assert main([*env, "forget-user", "7"]) == 2  # nothing happens without --yes
    assert "add --yes" in capsys.readouterr().err
    assert main([*env, "forget-user", "7", "--yes"]) == 0
    assert "deleted 0 character(s), 0 reference image(s) with face embeddings, 1 job(s), 1 output(s)" in (
        capsys.readouterr().out
    )

    async def left() -> int:
        db = await Database.open(settings.database_path)
        try:
            return len(await db.fetchall("SELECT id FROM jobs WHERE user_id = ?", (7,)))
        finally:
            await db.close()

    assert asyncio.run(left()) == 0
