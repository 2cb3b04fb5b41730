"""Jobs on a real local Ray instance with two CPU workers (tiny bundle), through the HTTP API.

Ray starts once for the module; each test starts its own two actors (each loads the engine in its
own process) and stops them at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest
import ray

from bot import logs
from bot.app.settings import load_settings
from bot.errors import SettingsInvalid
from bot.running.ray_start import LOOPBACK, start_ray
from bot.running.ray_workers import RayFaceAnalyzer, RayWorkers, _per_gpu
from bot.tiny import TinyBundle
from storage import JobStatus
from tests.bot.api.harness import ApiHarness, api_settings, image_of, photo, running_api
from tests.bot.engine.helpers import face_photo


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[None]:
    start_ray(
        None, num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    yield
    ray.shutdown()


def ray_settings(bundle: TinyBundle, data_dir: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "workers": "ray",
        "ray_workers": 2,
        "ray_gpus_per_worker": 0,
        "ray_cpus_per_worker": 1,
        "queue_per_user": 10,
    }
    values.update(overrides)
    return api_settings(bundle, data_dir, **values)


def runner(api: ApiHarness) -> RayWorkers:
    assert isinstance(api.services.runner, RayWorkers)
    return api.services.runner


async def wait_running(api: ApiHarness, key: dict[str, str], job_id: int, step: int = 1) -> None:
    async with asyncio.timeout(60):
        while True:
            body = (await api.client.get(f"/v1/jobs/{job_id}", headers=key)).json()
            if body["status"] == "running" and body["progress"]["step"] >= step:
                return
            await asyncio.sleep(0.02)


def overlap(a: Any, b: Any) -> bool:
    return a.started_at < b.finished_at and b.started_at < a.finished_at


async def test_jobs_from_several_users_run_two_at_a_time(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(ray_settings(tiny_bundle, data_dir)) as api:
        assert runner(api).slots == 2 and all(s.ready for s in runner(api).states())
        keys = [await api.key(user) for user in (1, 2, 3)]
        ids = [
            (await api.submit(key, photo(), prompt=f"user {n} scene", steps=30)).json()["id"]
            for n, key in enumerate(keys)
        ]
        for key, job_id in zip(keys, ids, strict=True):
            job = await api.wait_for(key, job_id, "succeeded", "failed")
            assert job["status"] == "succeeded" and len(job["outputs"]) == 1, job
        rows = [await api.services.jobs.get(job_id) for job_id in ids]
        assert all(r is not None and r.status is JobStatus.DONE and r.attempts == 1 for r in rows)
        assert overlap(rows[0], rows[1])  # two workers: the first two ran at the same time
        health = (await api.client.get("/v1/health", headers=keys[0])).json()
        assert health["ok"] and len(health["workers"]) == 2 and health["workers_ready"] == 2


async def test_faces_are_analysed_on_the_workers_and_face_lock_runs_there(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    async with running_api(ray_settings(tiny_bundle, data_dir)) as api:
        assert isinstance(api.services.worker.face_analyzer, RayFaceAnalyzer)  # none loaded here
        key = await api.key(1)
        assert (
            await api.client.post("/v1/characters", json={"name": "Mara"}, headers=key)
        ).status_code == 201
        for seed in (0, 5):
            added = await api.client.post(
                "/v1/characters/Mara/images",
                files={"file": ("m.png", face_photo(1, seed=seed), "image/png")},
                headers=key,
            )
            assert added.status_code == 201, added.text
        stranger = await api.client.post(
            "/v1/characters/Mara/images", files={"file": ("s.png", face_photo(7), "image/png")}, headers=key
        )
        assert stranger.status_code == 422 and "different person" in stranger.text, stranger.text
        job_id = (await api.submit(key, prompt="Mara at the beach", character="Mara", steps=4)).json()["id"]
        job = await api.wait_for(key, job_id, "succeeded", "failed")
        assert job["status"] == "succeeded", job
        # Scored on the worker by its own face analysis (the random tiny model draws no face).
        assert any("could not be scored" in w for w in job["warnings"]), job["warnings"]
        row = await api.services.jobs.get(job_id)
        assert row is not None and row.params.face is not None  # a face-locked job


async def test_structure_and_a_prompt_from_the_image_run_on_the_workers(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    """The ControlNet, the depth model and Florence-2 load on the worker; the map comes back as bytes."""
    async with running_api(ray_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        job_id = (await api.submit(key, photo(), structure="depth", steps=4)).json()["id"]
        job = await api.wait_for(key, job_id, "succeeded", "failed")
        assert job["status"] == "succeeded", job
        assert job["warnings"][0].startswith("no prompt was given, so the image was described: “")
        edges = await api.client.get(f"/v1/jobs/{job_id}/structure", headers=key)
        assert edges.status_code == 200 and image_of(edges.content).mode == "RGB"
        assert runner(api).capabilities.structures == {"canny", "depth"} and runner(api).capabilities.describe


async def test_the_fair_order_holds_across_workers(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(ray_settings(tiny_bundle, data_dir), start_queue=False) as api:
        alice, bob = await api.key(1), await api.key(2)
        alice_ids = [(await api.submit(alice, prompt=f"alice {i}", steps=8)).json()["id"] for i in range(4)]
        bob_id = (await api.submit(bob, prompt="bob", steps=8)).json()["id"]
        await api.services.queue.start()
        for job_id in alice_ids:
            await api.wait_for(alice, job_id, "succeeded")
        await api.wait_for(bob, bob_id, "succeeded")
        rows = {r.id: r for r in await api.services.jobs.user_jobs(1) + await api.services.jobs.user_jobs(2)}
        started = sorted(rows, key=lambda i: rows[i].started_at or 0)
        # Bob's one job goes with Alice's first, not behind her four.
        assert set(started[:2]) == {alice_ids[0], bob_id}
        assert started[2:] == alice_ids[1:]

        # Alice's jobs hold both workers when Bob comes: his job takes the first worker that frees.
        more = [(await api.submit(alice, prompt=f"alice {i}", steps=30)).json()["id"] for i in range(4)]
        for job_id in more[:2]:
            await wait_running(api, alice, job_id)
        late = (await api.submit(bob, prompt="bob again", steps=8)).json()["id"]
        for job_id in more:
            await api.wait_for(alice, job_id, "succeeded")
        await api.wait_for(bob, late, "succeeded")
        rows = {r.id: r for r in await api.services.jobs.user_jobs(1) + await api.services.jobs.user_jobs(2)}
        order = sorted([*more, late], key=lambda i: rows[i].started_at or 0)
        assert order[2] == late, order


async def test_a_worker_that_cannot_load_is_reported_and_the_other_carries_on(
    tiny_bundle: TinyBundle, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = RayWorkers._start_actor

    def second_has_no_model(self: RayWorkers, index: int) -> Any:
        if index != 1:
            return start(self, index)
        good = self.models_config
        default = good.default_config
        missing = replace(default, model=str(data_dir / "no-such-model"))
        self.models_config = replace(good, models={**good.models, good.default: missing})
        try:
            return start(self, index)  # a real load in the actor, of a folder missing on its node
        finally:
            self.models_config = good

    monkeypatch.setattr(RayWorkers, "_start_actor", second_has_no_model)
    async with running_api(ray_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        health = (await api.client.get("/v1/health", headers=key)).json()  # the details need a key
        assert health["ok"] and health["model_loaded"]
        broken = [w for w in health["workers"] if not w["ready"]]
        assert len(broken) == 1 and "no-such-model" in broken[0]["error"], health["workers"]
        ids = [(await api.submit(key, prompt=f"job {i}", steps=4)).json()["id"] for i in range(3)]
        for job_id in ids:
            assert (await api.wait_for(key, job_id, "succeeded", "failed"))["status"] == "succeeded"


async def test_cancel_reaches_a_remote_job(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(ray_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        job_id = (await api.submit(key, photo(128), prompt="a long job", steps=100)).json()["id"]
        await wait_running(api, key, job_id, step=2)
        assert (await api.client.post(f"/v1/jobs/{job_id}/cancel", headers=key)).status_code == 202
        job = await api.wait_for(key, job_id, "canceled", "succeeded", "failed")
        assert job["status"] == "canceled" and job["progress"]["step"] < 100
        after = (await api.submit(key, prompt="next", steps=4)).json()["id"]
        assert (await api.wait_for(key, after, "succeeded", "failed"))["status"] == "succeeded"


async def test_a_killed_worker_reruns_its_job_once_elsewhere(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(ray_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        job_id = (await api.submit(key, photo(128), prompt="survives a lost worker", steps=60)).json()["id"]
        await wait_running(api, key, job_id, step=2)
        busy = [w for w in runner(api)._workers if w.busy]
        assert len(busy) == 1
        ray.kill(busy[0].handle, no_restart=False)  # Ray restarts the actor; the job runs again
        job = await api.wait_for(key, job_id, "succeeded", "failed", timeout=120)
        assert job["status"] == "succeeded" and len(job["outputs"]) == 1
        row = await api.services.jobs.get(job_id)
        assert row is not None and row.attempts == 2
        outputs = await api.services.jobs.outputs(job_id)
        assert len(outputs) == 1  # delivered once
        async with asyncio.timeout(60):  # Ray restarted the killed actor: it takes jobs again
            while not all(s.ready for s in runner(api).states()):
                await asyncio.sleep(0.1)


async def test_a_coordinator_restart_with_a_job_running_on_ray(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    settings = ray_settings(tiny_bundle, data_dir)
    async with running_api(settings) as api:
        key_row = await api.services.keys.create(1)
        key = {"Authorization": f"Bearer {key_row.key}"}
        job_id = (await api.submit(key, photo(128), prompt="across a restart", steps=60)).json()["id"]
        await wait_running(api, key, job_id, step=1)
    async with running_api(settings) as api:  # a new coordinator: its own workers, the same queue
        job = await api.wait_for(key, job_id, "succeeded", "failed", timeout=120)
        assert job["status"] == "succeeded" and len(job["outputs"]) == 1
        row = await api.services.jobs.get(job_id)
        assert row is not None and row.attempts == 2


def test_workers_default_to_one_per_gpu() -> None:
    assert _per_gpu(4, 1) == 4 and _per_gpu(4, 2) == 2 and _per_gpu(1, 0.5) == 2
    assert _per_gpu(0, 1) == 1  # no GPU reported: one worker, which Ray places when a GPU joins
    assert _per_gpu(8, 0) == 1  # CPU workers: say how many with LIKENESS_RAY_WORKERS


async def test_ray_mode_without_ray_installed_says_how_to_get_it(
    tiny_bundle: TinyBundle, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ray_settings(tiny_bundle, data_dir)
    workers = RayWorkers(settings.engine_config, None, settings.ray_config, face_pack_url="", offline=True)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as where it is missing
    with pytest.raises(SettingsInvalid, match=r'LIKENESS_WORKERS=ray needs Ray: pip install -e "\.\[ray\]"'):
        await workers.load()


def test_the_local_instance_listens_on_loopback_only() -> None:
    """Every port of the Ray processes this one started (GCS, raylet, workers, agents)."""
    assert ray.util.get_node_ip_address() == LOOPBACK
    listening = {
        (child.name(), conn.laddr.ip)
        for child in psutil.Process().children(recursive=True)
        for conn in _connections(child)
        if conn.status == psutil.CONN_LISTEN
    }
    assert {name for name, _ in listening} >= {"gcs_server", "raylet"}
    outward = {
        (n, ip)
        for n, ip in listening
        if not ipaddress.ip_address(ip).is_loopback and ip != f"::ffff:{LOOPBACK}"
    }
    assert not outward, f"Ray listens beyond loopback: {sorted(outward)}"


def _connections(process: psutil.Process) -> list[Any]:
    with contextlib.suppress(psutil.Error):
        return process.net_connections(kind="inet")
    return []


async def test_the_bot_starts_its_own_instance_through_the_loopback_start(
    tiny_bundle: TinyBundle, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str | None] = []

    def started(address: str | None, **options: Any) -> None:
        calls.append(address)
        raise SettingsInvalid("stop here")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr("bot.running.ray_workers.start_ray", started)
    settings = ray_settings(tiny_bundle, data_dir)
    workers = RayWorkers(settings.engine_config, None, settings.ray_config, face_pack_url="", offline=True)
    with pytest.raises(SettingsInvalid, match="stop here"):
        await workers.load()
    assert calls == [None]


def _log_in_the_worker(actor: Any, line: str) -> tuple[str, int, int]:
    """Run in the actor's process: a line logged there, through a handler added after start-up."""
    import io
    import logging

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        logging.getLogger("bot.engine").warning(line)
    finally:
        logging.getLogger().removeHandler(handler)
    return stream.getvalue(), logging.getLogger().level, logging.getLogger("httpx").getEffectiveLevel()


async def test_a_worker_redacts_its_own_log(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    """A worker is another process: its lines reach the coordinator's log as text, past the
    coordinator's filter, so the actor sets up the same redaction (at the coordinator's level)."""
    async with running_api(ray_settings(tiny_bundle, data_dir, ray_workers=1)) as api:
        actor = runner(api).actors()[0]
        line = "GET https://alice:pw-s3cret@files.example/a.png?X-Amz-Signature=s1gnature"
        text, level, http_level = await actor.__ray_call__.remote(_log_in_the_worker, line)
        assert text == "GET https://***@files.example/a.png?X-Amz-Signature=***\n"
        assert level == logs.current().level and http_level == logging.WARNING


async def test_a_job_goes_to_the_worker_that_holds_its_model(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    """Each worker loads a model on demand (one kept); the next job for it goes to the one holding it."""
    settings = ray_settings(tiny_bundle, data_dir, models=load_settings(tiny_bundle.models_env).models)
    async with running_api(settings) as api:
        key = await api.key(1)
        loaded = {s.name: s.loaded for s in runner(api).model_states()}
        assert loaded == {"tiny-sd15": 2, "tiny-sdxl": 0}
        for _ in range(2):
            job_id = (await api.submit(key, prompt="a lighthouse", model="tiny-sdxl", steps=2)).json()["id"]
            job = await api.wait_for(key, job_id, "succeeded", "failed")
            assert job["status"] == "succeeded", job
        states = {s.name: (s.loaded, s.family) for s in runner(api).model_states()}
        # The second job ran where the first had loaded SDXL: one worker each, no second swap.
        assert states == {"tiny-sd15": (1, "SD 1.5"), "tiny-sdxl": (1, "SDXL")}
        assert runner(api).capabilities_for("tiny-sdxl").family is not None
