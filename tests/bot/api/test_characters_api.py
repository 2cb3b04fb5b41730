"""``/v1/characters``: the reference sets of ``/character``, over HTTP."""

from __future__ import annotations

from pathlib import Path

from bot.tiny import TinyBundle
from tests.bot.api.harness import api_settings, photo, running_api
from tests.bot.engine.helpers import face_photo
from tests.cogs.harness import EngineControl


def png(data: bytes, name: str = "face.png") -> dict[str, tuple[str, bytes, str]]:
    return {"image": (name, data, "image/png")}


async def test_build_promote_prune_and_delete_a_set(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        created = await api.client.post("/v1/characters", json={"name": "Mara"}, headers=key)
        assert created.status_code == 201, created.text
        assert created.json()["images"] == 0 and created.json()["references"] == []
        reference = await api.client.post(
            "/v1/characters/mara/images", files=png(face_photo(1)), data={"type": "reference"}, headers=key
        )
        assert reference.status_code == 422 and "first image of a set is its primary" in reference.text
        first = await api.client.post("/v1/characters/mara/images", files=png(face_photo(1)), headers=key)
        assert first.status_code == 201, first.text
        assert first.json() | {"warnings": []} == {
            "character": "Mara",
            "number": 1,
            "role": "primary",
            "warnings": [],
        }
        second = await api.client.post(
            "/v1/characters/Mara/images",
            files={"file": ("b.png", face_photo(1, seed=5), "image/png")},
            headers=key,
        )
        assert second.json()["number"] == 2 and second.json()["role"] == "reference"
        stranger = await api.client.post("/v1/characters/Mara/images", files=png(face_photo(7)), headers=key)
        assert stranger.status_code == 422 and stranger.json()["error"]["code"] == "reference_refused"
        assert "looks like a different person" in stranger.json()["error"]["message"]
        landscape = await api.client.post("/v1/characters/Mara/images", files=png(photo(128)), headers=key)
        assert landscape.status_code == 422 and "no face found" in landscape.json()["error"]["message"]
        as_primary = await api.client.post(
            "/v1/characters/Mara/images",
            files={"reference_image": ("c.png", face_photo(7), "image/png")},
            data={"type": "primary", "force": "true"},
            headers=key,
        )
        assert as_primary.status_code == 201, as_primary.text
        assert as_primary.json()["number"] == 1 and as_primary.json()["role"] == "primary"
        shown = (await api.client.get("/v1/characters/Mara", headers=key)).json()
        assert [r["number"] for r in shown["references"]] == [1, 2, 3]
        assert [r["role"] for r in shown["references"]] == ["primary", "reference", "reference"]
        assert all(r["face_found"] for r in shown["references"])
        assert all(isinstance(r["similarity"], float) for r in shown["references"])
        assert "warnings" in shown["references"][0]["quality"]
        promoted = await api.client.post("/v1/characters/Mara/images/2/promote", headers=key)
        assert promoted.status_code == 200 and promoted.json()["references"][0]["role"] == "primary"
        pruned = await api.client.delete("/v1/characters/Mara/images/3", headers=key)
        assert pruned.status_code == 200 and len(pruned.json()["references"]) == 2
        gone = await api.client.delete("/v1/characters/Mara/images/9", headers=key)
        assert gone.status_code == 404 and "has no image number 9" in gone.json()["error"]["message"]
        listed = (await api.client.get("/v1/characters", headers=key)).json()["characters"]
        assert [(c["name"], c["images"]) for c in listed] == [("Mara", 2)]
        assert (await api.client.delete("/v1/characters/Mara", headers=key)).status_code == 204
        assert (await api.client.get("/v1/characters", headers=key)).json()["characters"] == []
        assert not any((data_dir / "media").rglob("*.png"))


async def test_create_with_an_image_is_all_or_nothing(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        made = await api.client.post(
            "/v1/characters", data={"name": "Ivo"}, files=png(face_photo(2)), headers=key
        )
        assert made.status_code == 201 and made.json()["references"][0]["role"] == "primary"
        refused = await api.client.post(
            "/v1/characters", data={"name": "Empty"}, files=png(photo(128)), headers=key
        )
        assert refused.status_code == 422 and "no face found" in refused.json()["error"]["message"]
        not_image = await api.client.post(
            "/v1/characters", data={"name": "Bad"}, files=png(b"nope"), headers=key
        )
        assert not_image.status_code == 400
        names = [
            c["name"] for c in (await api.client.get("/v1/characters", headers=key)).json()["characters"]
        ]
        assert names == ["Ivo"]  # the refused ones were not kept half-made
        taken = await api.client.post("/v1/characters", json={"name": "ivo"}, headers=key)
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "name_taken"
        unnamed = await api.client.post("/v1/characters", json={}, headers=key)
        assert unnamed.status_code == 422 and unnamed.json()["error"]["message"] == "name is required"


async def test_another_users_character_is_404_like_a_missing_one(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        alice, bob = await api.key(1), await api.key(2)
        await api.client.post(
            "/v1/characters", data={"name": "Mara"}, files=png(face_photo(1)), headers=alice
        )
        for method, path in [
            ("GET", "/v1/characters/Mara"),
            ("DELETE", "/v1/characters/Mara"),
            ("POST", "/v1/characters/Mara/images/1/promote"),
            ("DELETE", "/v1/characters/Mara/images/1"),
        ]:
            theirs = await api.client.request(method, path, headers=bob)
            missing = await api.client.request(method, path.replace("Mara", "Nobody"), headers=bob)
            assert theirs.status_code == missing.status_code == 404, (method, path)
            assert (
                theirs.json()["error"]["message"]
                == "you have no character called “Mara”: /character list shows yours"
            )
        upload = await api.client.post("/v1/characters/Mara/images", files=png(face_photo(1)), headers=bob)
        assert upload.status_code == 404
        job = await api.submit(bob, prompt="a portrait", character="Mara")
        assert job.status_code == 404
        assert (await api.client.get("/v1/characters", headers=bob)).json()["characters"] == []
        mine = await api.client.get("/v1/characters/Mara", headers=alice)
        assert mine.status_code == 200 and len(mine.json()["references"]) == 1


async def test_a_face_locked_job_scores_its_outputs(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir)) as api:
        key = await api.key(1)
        await api.client.post("/v1/characters", data={"name": "Mara"}, files=png(face_photo(1)), headers=key)
        response = await api.submit(
            key, face_photo(1), prompt="portrait in the rain", character="Mara", character_weight=0.9
        )
        assert response.status_code == 202, response.text
        job = await api.wait_for(key, response.json()["id"], "succeeded", "failed")
        assert job["status"] == "succeeded", job
        assert job["parameters"]["character_weight"] == 0.9
        assert "identity" in job["outputs"][0]


async def test_rename_and_the_first_image_against_the_work_limit(
    tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    """The outcomes ``/character rename`` and ``/character create`` give in Discord."""
    async with running_api(api_settings(tiny_bundle, data_dir, queue_per_user=1)) as api:
        key = await api.key(1)
        for name in ("Mara", "Ivo"):
            assert (
                await api.client.post("/v1/characters", json={"name": name}, headers=key)
            ).status_code == 201
        renamed = await api.client.patch("/v1/characters/mara", json={"name": "Mara Lee"}, headers=key)
        assert renamed.status_code == 200 and renamed.json()["name"] == "Mara Lee"
        taken = await api.client.patch("/v1/characters/Ivo", json={"name": "mara lee"}, headers=key)
        assert taken.status_code == 409 and taken.json()["error"] == {
            "code": "name_taken",
            "message": "you already have a character called “Mara Lee”",
        }
        missing = await api.client.patch("/v1/characters/Nobody", json={"name": "X"}, headers=key)
        assert missing.status_code == 404
        engine_control.hold()  # the one slot of this user's work is taken by a running job
        await api.submit(key, prompt="keeps my one slot")
        await engine_control.wait_held()
        full = await api.client.post(
            "/v1/characters", data={"name": "Later"}, files=png(face_photo(2)), headers=key
        )
        assert full.status_code == 429 and "the limit is 1" in full.json()["error"]["message"]
        engine_control.release()
        names = [
            c["name"] for c in (await api.client.get("/v1/characters", headers=key)).json()["characters"]
        ]
        assert names == ["Ivo", "Mara Lee"]
