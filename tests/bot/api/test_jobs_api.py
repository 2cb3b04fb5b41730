"""``/v1/jobs`` through httpx against the real app, services and tiny model."""

from __future__ import annotations

import json
from pathlib import Path

from bot.api.app import openapi_document
from bot.engine.metadata import read_parameters
from bot.tiny import TinyBundle
from storage import JobStatus
from tests.bot.api.harness import api_settings, image_of, photo, running_api
from tests.cogs.harness import EngineControl


async def test_a_multipart_job_runs_and_its_outputs_download(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        response = await api.submit(key, photo(), prompt="a red fox", strength=0.5, seed=7, candidates=2)
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["status"] == "queued" and accepted["position"] in (0, 1)
        assert response.headers["location"] == f"/v1/jobs/{accepted['id']}"
        job = await api.wait_for(key, accepted["id"], "succeeded", "failed")
        assert job["status"] == "succeeded", job
        assert [o["seed"] for o in job["outputs"]] == [7, 8]
        assert job["parameters"]["strength"] == 0.5 and job["parameters"]["mode"] == "img2img"
        assert job["progress"] == {"step": 4, "total": 4}
        output = job["outputs"][1]
        assert output["url"] == f"http://127.0.0.1:8765/v1/jobs/{job['id']}/outputs/1"
        png = await api.client.get(f"/v1/jobs/{job['id']}/outputs/1", headers=key)
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert image_of(png.content).size == (output["width"], output["height"])
        assert read_parameters(png.content)["Seed"] == "8"
        assert await api.services.jobs.undelivered() == []  # nothing for Discord's redelivery to post
        missing = await api.client.get(f"/v1/jobs/{job['id']}/outputs/2", headers=key)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_a_structure_job_records_it_and_serves_its_map(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        accepted = await api.submit(key, photo(), prompt="a tower", structure="canny", structure_weight=0.7)
        assert accepted.status_code == 202, accepted.text
        job = await api.wait_for(key, accepted.json()["id"], "succeeded", "failed")
        assert job["status"] == "succeeded", job
        assert job["parameters"]["structure"] == "canny" and job["parameters"]["structure_weight"] == 0.7
        assert job["structure_url"] == f"http://127.0.0.1:8765/v1/jobs/{job['id']}/structure"
        edges = await api.client.get(f"/v1/jobs/{job['id']}/structure", headers=key)
        assert edges.status_code == 200 and image_of(edges.content).mode == "RGB"
        other = await api.client.get(f"/v1/jobs/{job['id']}/structure", headers=await api.key(2))
        assert other.status_code == 404
        refused = await api.submit(key, prompt="a tower", structure="canny")
        assert refused.status_code == 422 and "attach the picture" in refused.json()["error"]["message"]
        plain = await api.wait_for(key, (await api.submit(key, prompt="a tower")).json()["id"], "succeeded")
        assert plain["structure_url"] is None


async def test_a_describe_job_writes_four_prompts(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        accepted = await api.submit(key, photo(), describe="detailed")
        assert accepted.status_code == 202, accepted.text
        job = await api.wait_for(key, accepted.json()["id"], "succeeded", "failed")
        assert job["status"] == "succeeded" and job["outputs"] == [], job
        assert len(job["suggestions"]) == 4 and all(s.strip() for s in job["suggestions"])
        assert job["parameters"]["describe"] == "detailed"
        refused = await api.submit(key, describe="standard")
        assert refused.status_code == 422
        assert "describe needs an image" in refused.json()["error"]["message"]


async def test_an_upscale_job_makes_the_picture_larger(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir, max_output_mp=0.05)) as api:
        key = await api.key(1)
        picture = photo()
        accepted = await api.submit(key, picture, upscale=2)
        assert accepted.status_code == 202, accepted.text
        job = await api.wait_for(key, accepted.json()["id"], "succeeded", "failed")
        assert job["status"] == "succeeded", job
        assert job["parameters"]["upscale"] == 2 and "strength" not in job["parameters"]  # no detail pass
        [output] = job["outputs"]
        assert (output["width"], output["height"]) == (128, 128)  # the 64 px photo, 2×
        png = await api.client.get(output["url"].removeprefix("http://127.0.0.1:8765"), headers=key)
        assert read_parameters(png.content)["Postprocess upscale by"] == "2"
        over = await api.submit(key, picture, upscale=4)
        assert over.status_code == 422 and "LIKENESS_MAX_OUTPUT_MP" in over.json()["error"]["message"]
        assert len(await api.services.db.fetchall("SELECT id FROM jobs")) == 1  # the refused one: not stored


async def test_a_json_job_from_the_prompt_alone(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        response = await api.client.post(
            "/v1/jobs", json={"prompt": "a lighthouse", "aspect": "16:9", "seed": 3}, headers=key
        )
        assert response.status_code == 202, response.text
        job = await api.wait_for(key, response.json()["id"], "succeeded", "failed")
        assert job["status"] == "succeeded" and job["parameters"]["mode"] == "text"
        assert job["outputs"][0]["width"] > job["outputs"][0]["height"]


async def test_the_image_may_come_as_file_or_reference_image(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        for name in ("file", "reference_image"):
            response = await api.client.post(
                "/v1/jobs",
                data={"prompt": "a boat"},
                files={name: ("boat.png", photo(), "image/png")},
                headers=key,
            )
            assert response.status_code == 202, response.text
            job = await api.wait_for(key, response.json()["id"], "succeeded", "failed")
            assert job["parameters"]["mode"] == "img2img"
        both = await api.client.post(
            "/v1/jobs",
            data={"prompt": "a boat"},
            files={"file": ("a.png", photo(), "image/png"), "image": ("b.png", photo(), "image/png")},
            headers=key,
        )
        assert both.status_code == 422
        assert both.json()["error"]["message"] == "give one image, not 2 (image, file)"


async def test_bad_input_gets_the_discord_message_and_stores_nothing(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        cases = [
            (
                {"prompt": "a cat", "mode": "img2img", "strength": 1.5},
                True,
                422,
                "strength must be between 0 and 1",
            ),
            ({"prompt": "a cat", "cfg": 40}, False, 422, "cfg must be between 0 and 20"),
            ({"prompt": "a cat", "steps": 0}, False, 422, "steps must be between 1 and 100"),
            ({"prompt": "a cat", "mode": "inpaint"}, True, 422, "mask"),
            ({"prompt": "a cat", "style": "nope"}, False, 422, "unknown style 'nope'"),
            ({"prompt": "a cat", "character": "nobody"}, False, 404, "you have no character called “nobody”"),
            ({"prompt": "a cat", "steps": "many"}, False, 422, "steps: input should be a valid integer"),
            ({"prompt": "a cat", "wings": 2}, False, 422, "unknown field 'wings'"),
            ({"prompt": "a cat", "min_identity": 0.5}, False, 422, "min_identity and max_tries score faces"),
            ({"negative": "dogs"}, False, 422, "the prompt is empty: describe the change or scene you want"),
        ]
        for fields, with_image, status, message in cases:
            response = await api.submit(key, photo() if with_image else None, **fields)
            assert response.status_code == status, (fields, response.text)
            assert message in response.json()["error"]["message"], (fields, response.text)
        not_image = await api.client.post(
            "/v1/jobs",
            data={"prompt": "a cat"},
            files={"image": ("x.png", b"not an image", "image/png")},
            headers=key,
        )
        assert not_image.status_code == 400 and not_image.json()["error"]["code"] == "bad_image"
        text = await api.client.post(
            "/v1/jobs",
            data={"prompt": "a cat"},
            files={"image": ("x.txt", b"hello", "text/plain")},
            headers=key,
        )
        assert text.status_code == 400 and "text/plain, not an image" in text.json()["error"]["message"]
        truncated = photo()[:200]
        cut = await api.client.post(
            "/v1/jobs",
            data={"prompt": "a cat"},
            files={"image": ("t.png", truncated, "image/png")},
            headers=key,
        )
        assert cut.status_code == 400, cut.text
        big = await api.client.post(
            "/v1/jobs",
            data={"prompt": "a cat"},
            files={"image": ("big.png", b"\0" * (26 * 2**20), "image/png")},
            headers=key,
        )
        assert big.status_code == 400, big.text
        assert big.json()["error"]["message"] == "the image “big.png” is 26.0 MiB; the limit is 25 MiB"
        huge = await api.client.post(
            "/v1/jobs",
            content=b"x",
            headers={
                **key,
                "content-type": "multipart/form-data; boundary=x",
                "content-length": str(60 * 2**20),
            },
        )
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
        raw = await api.client.post(
            "/v1/jobs", content=b"{not json", headers={**key, "content-type": "application/json"}
        )
        assert raw.status_code == 400 and raw.json()["error"]["message"] == "the body is not valid JSON"
        plain = await api.client.post("/v1/jobs", content=b"x", headers={**key, "content-type": "text/plain"})
        assert plain.status_code == 415
        assert await api.services.jobs.user_jobs(1) == []
        assert not any((data_dir / "media").rglob("*.*"))


async def test_a_full_queue_and_the_rate_limit_answer_429_with_retry_after(
    tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    settings = api_settings(tiny_bundle, data_dir, queue_per_user=2, api_rate_limit=30)
    async with running_api(settings) as api:
        key = await api.key(1)
        engine_control.hold()
        for _ in range(2):
            assert (await api.submit(key, prompt="a cat")).status_code == 202
        full = await api.submit(key, prompt="a cat")
        assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
        assert int(full.headers["retry-after"]) >= 1
        assert "the limit is 2" in full.json()["error"]["message"]
        statuses = [(await api.client.get("/v1/jobs", headers=key)).status_code for _ in range(40)]
        assert 429 in statuses
        limited = await api.client.get("/v1/jobs", headers=key)
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        other = await api.key(2)  # the limit is per key
        assert (await api.client.get("/v1/jobs", headers=other)).status_code == 200
        engine_control.release()


async def test_keys_missing_unknown_or_revoked_get_401(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        new = await api.services.keys.create(1, "ci")
        good = {"Authorization": f"Bearer {new.key}"}
        assert (await api.client.get("/v1/jobs", headers=good)).status_code == 200
        for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer lk_unknown"}):
            response = await api.client.get("/v1/jobs", headers=headers)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["code"] == "unauthorized"
        await api.services.keys.revoke(new.row.id)
        revoked = await api.client.get("/v1/jobs", headers=good)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
        rows = await api.services.db.fetchall("SELECT key_hash, prefix FROM api_keys")
        assert all(new.key not in (row[0], row[1]) for row in rows)  # only the hash is kept
        health = await api.client.get("/v1/health")  # no key needed
        assert health.status_code == 200 and health.json()["model_loaded"] is True


async def test_another_users_job_is_404_like_a_missing_one(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        alice, bob = await api.key(1), await api.key(2)
        job_id = (await api.submit(alice, prompt="a secret garden")).json()["id"]
        await api.wait_for(alice, job_id, "succeeded")
        for method, path in [
            ("GET", "/v1/jobs/{}"),
            ("POST", "/v1/jobs/{}/cancel"),
            ("DELETE", "/v1/jobs/{}"),
            ("GET", "/v1/jobs/{}/outputs/0"),
            ("GET", "/v1/jobs/{}/events"),
        ]:
            theirs = await api.client.request(method, path.format(job_id), headers=bob)
            missing = await api.client.request(method, path.format(999), headers=bob)
            assert theirs.status_code == missing.status_code == 404, (method, path)
            message = theirs.json()["error"]["message"]
            assert message.startswith(f"you have no job {job_id}"), (method, path)
            assert missing.json()["error"]["message"] == message.replace(str(job_id), "999")
        assert (await api.client.get("/v1/jobs", headers=bob)).json()["jobs"] == []
        assert (await api.client.get(f"/v1/jobs/{job_id}", headers=alice)).status_code == 200


async def test_cancel_and_delete(
    tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        engine_control.hold()
        running = (await api.submit(key, prompt="first")).json()["id"]
        await engine_control.wait_held()
        queued = (await api.submit(key, prompt="second")).json()["id"]
        assert (await api.client.get(f"/v1/jobs/{queued}", headers=key)).json()["position"] == 1
        busy = await api.client.delete(f"/v1/jobs/{running}", headers=key)
        assert busy.status_code == 409 and busy.json()["error"] == {
            "code": "job_running",
            "message": f"job {running} is running: cancel it first, then delete it",
        }
        waiting = await api.client.delete(f"/v1/jobs/{queued}", headers=key)
        assert waiting.status_code == 409 and waiting.json()["error"]["code"] == "job_queued"
        assert (await api.client.get(f"/v1/jobs/{queued}", headers=key)).json()["status"] == "queued"
        cancelled = await api.client.post(f"/v1/jobs/{queued}/cancel", headers=key)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "canceled"
        stopping = await api.client.post(f"/v1/jobs/{running}/cancel", headers=key)
        assert stopping.status_code == 202
        engine_control.release()
        assert (await api.wait_for(key, running, "canceled"))["outputs"] == []
        again = await api.client.post(f"/v1/jobs/{running}/cancel", headers=key)
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_finished"
        done = (await api.submit(key, photo(), prompt="third")).json()["id"]
        await api.wait_for(key, done, "succeeded")
        assert (await api.client.delete(f"/v1/jobs/{done}", headers=key)).status_code == 204
        assert (await api.client.get(f"/v1/jobs/{done}", headers=key)).status_code == 404
        assert await api.services.jobs.get(done) is None


async def test_listing_is_newest_first_and_paginated(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir, queue_per_user=10)) as api:
        key = await api.key(1)
        ids = [(await api.submit(key, prompt=f"scene {i}", steps=1)).json()["id"] for i in range(5)]
        first = (await api.client.get("/v1/jobs?limit=2", headers=key)).json()
        assert [j["id"] for j in first["jobs"]] == ids[:2:-1][:2] == [ids[4], ids[3]]
        second = (await api.client.get(f"/v1/jobs?limit=2&before={first['next_before']}", headers=key)).json()
        assert [j["id"] for j in second["jobs"]] == [ids[2], ids[1]]
        last = (await api.client.get(f"/v1/jobs?limit=2&before={second['next_before']}", headers=key)).json()
        assert [j["id"] for j in last["jobs"]] == [ids[0]] and last["next_before"] is None
        bad = await api.client.get("/v1/jobs?limit=0", headers=key)
        assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("limit:")
        for job_id in ids:
            await api.wait_for(key, job_id, "succeeded")
        rows = await api.services.jobs.user_jobs(1)
        assert {r.status for r in rows} == {JobStatus.DONE} and all(r.api_key_id for r in rows)


async def test_the_openapi_document_and_docs_are_generated(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        spec = (await api.client.get("/openapi.json")).json()
        assert openapi_document() == spec  # the docs site's copy, built without a bot, is the same
        paths = spec["paths"]
        for path in (
            "/v1/jobs",
            "/v1/jobs/{job_id}",
            "/v1/jobs/{job_id}/cancel",
            "/v1/jobs/{job_id}/outputs/{index}",
            "/v1/jobs/{job_id}/events",
            "/v1/characters",
            "/v1/characters/{name}",
            "/v1/characters/{name}/images",
            "/v1/characters/{name}/images/{number}/promote",
            "/v1/characters/{name}/images/{number}",
            "/v1/health",
        ):
            assert path in paths, path
        body = paths["/v1/jobs"]["post"]["requestBody"]["content"]
        form = body["multipart/form-data"]["schema"]["properties"]
        for option in (
            "prompt",
            "strength",
            "cfg",
            "character",
            "min_identity",
            "identity_mode",
            "lora",
            "webhook",
        ):
            assert option in form
        assert "image_url" in body["application/json"]["schema"]["properties"]
        assert "JobView" in json.dumps(spec["components"])
        docs = await api.client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
