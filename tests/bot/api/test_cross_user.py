"""Every route of the API, called with another user's key on the first user's jobs, outputs, structure
map, events, characters and references: 404 as for a missing one, and nothing stored changes.

The routes come from the app itself, so a route added later without a case here fails
``test_every_route_has_a_cross_user_case``; the routes that name no resource of a user (listings,
submissions, models, health, metrics, docs) are checked to show and touch only the caller's own."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
from starlette.routing import Route

from bot.tiny import TinyBundle
from tests.bot.api.harness import ApiHarness, api_settings, photo, running_api
from tests.bot.api.receiver import running_receiver
from tests.bot.engine.helpers import face_photo
from tests.cogs.harness import EngineControl

ALICE, BOB = 1, 2
PROMPT = "alice's secret garden"
CHARACTER = "Quillane"
MISSING = {"job": 999999, "running": 999999, "queued": 999999, "name": "Nobody"}

# Routes naming one of a user's resources: {job}, {running}, {queued} and {name} are Alice's.
RESOURCE_CASES: dict[tuple[str, str], list[str]] = {
    ("GET", "/v1/jobs/{job_id}"): ["/v1/jobs/{job}", "/v1/jobs/{running}", "/v1/jobs/{queued}"],
    ("POST", "/v1/jobs/{job_id}/cancel"): ["/v1/jobs/{running}/cancel", "/v1/jobs/{queued}/cancel"],
    ("DELETE", "/v1/jobs/{job_id}"): ["/v1/jobs/{job}", "/v1/jobs/{queued}"],
    ("GET", "/v1/jobs/{job_id}/outputs/{index}"): ["/v1/jobs/{job}/outputs/0"],
    ("GET", "/v1/jobs/{job_id}/structure"): ["/v1/jobs/{job}/structure"],
    ("GET", "/v1/jobs/{job_id}/events"): ["/v1/jobs/{job}/events", "/v1/jobs/{running}/events"],
    ("GET", "/v1/characters/{name}"): ["/v1/characters/{name}"],
    ("DELETE", "/v1/characters/{name}"): ["/v1/characters/{name}"],
    ("PATCH", "/v1/characters/{name}"): ["/v1/characters/{name}"],
    ("POST", "/v1/characters/{name}/images"): ["/v1/characters/{name}/images"],
    ("POST", "/v1/characters/{name}/images/{number}/promote"): ["/v1/characters/{name}/images/2/promote"],
    ("DELETE", "/v1/characters/{name}/images/{number}"): ["/v1/characters/{name}/images/1"],
}
# Routes naming no resource: what Bob sees of them must not hold Alice's data.
OWN_SCOPE_CASES: set[tuple[str, str]] = {
    ("GET", "/v1/jobs"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/characters"),
    ("POST", "/v1/characters"),
    ("DELETE", "/v1/me"),
    ("GET", "/v1/models"),
    ("GET", "/v1/health"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}


def routes(api: ApiHarness) -> set[tuple[str, str]]:
    """Every (method, path) the app answers: its own routes and those of every router it includes
    (hidden from the OpenAPI document or not), checked against the document's."""
    found: set[tuple[str, str]] = set()

    def walk(items: list[Any]) -> None:
        for route in items:
            included = getattr(route, "original_router", None)  # FastAPI's include_router
            if included is not None:
                walk(included.routes)
            elif isinstance(route, Route):
                found.update((m, route.path) for m in route.methods or () if m != "HEAD")

    walk(api.api.app.routes)
    documented = {
        (method.upper(), path) for path, item in api.api.app.openapi()["paths"].items() for method in item
    }
    assert documented <= found and documented, "the walk missed routes the OpenAPI document lists"
    return found


def body_for(method: str, template: str) -> dict[str, Any]:
    """A request a real client would send there (so a 404 is not a 422 for a missing body)."""
    if template == "/v1/characters/{name}" and method == "PATCH":
        return {"json": {"name": "Stolen"}}
    if template.endswith("/images") and method == "POST":
        return {"files": {"image": ("face.png", face_photo(2), "image/png")}, "data": {"type": "primary"}}
    return {}


async def snapshot(api: ApiHarness, data_dir: Path) -> dict[str, Any]:
    """Every row not Bob's, in every table, and every stored file's bytes."""
    db = api.services.db
    state: dict[str, Any] = {}
    tables = [r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in sorted(t for t in tables if not t.startswith("sqlite_")):
        columns = [r[1] for r in await db.fetchall(f"PRAGMA table_info({table})")]
        where = f" WHERE user_id != {BOB}" if "user_id" in columns else ""
        state[table] = sorted(map(tuple, await db.fetchall(f"SELECT * FROM {table}{where}")), key=repr)
    files = sorted(p for p in (data_dir / "media").rglob("*") if p.is_file())
    state["files"] = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    return state


def same_words(response: httpx.Response) -> dict[str, Any]:
    """The error with the ids and names the caller gave put back to placeholders."""
    error: dict[str, Any] = response.json()["error"]
    text = re.sub(r"\bjob \d+", "job N", error["message"])
    return {**error, "message": text.replace(CHARACTER, "NAME").replace(MISSING["name"], "NAME")}


def no_trace_of_alice(response: httpx.Response) -> None:
    assert PROMPT not in response.text and CHARACTER not in response.text, response.request.url


async def test_every_route_has_a_cross_user_case(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        found = routes(api)
    assert RESOURCE_CASES.keys() & OWN_SCOPE_CASES == set()
    assert found - RESOURCE_CASES.keys() - OWN_SCOPE_CASES == set(), "a route without a cross-user case"
    assert (RESOURCE_CASES.keys() | OWN_SCOPE_CASES) - found == set(), "a case for a route that is gone"


async def test_another_users_key_gets_404_on_every_resource_and_changes_nothing(
    tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    settings = api_settings(tiny_bundle, data_dir, api_allow_private_urls=True, queue_per_user=10)
    async with running_receiver() as receiver, running_api(settings) as api:
        alice, bob = await api.key(ALICE), await api.key(BOB)
        made = await api.client.post(
            "/v1/characters",
            data={"name": CHARACTER},
            files={"image": ("face.png", face_photo(1), "image/png")},
            headers=alice,
        )
        assert made.status_code == 201, made.text
        second = await api.client.post(
            f"/v1/characters/{CHARACTER}/images",
            files={"image": ("b.png", face_photo(1, seed=1), "image/png")},
            headers=alice,
        )
        assert second.status_code == 201, second.text
        accepted = await api.submit(
            alice, photo(), prompt=PROMPT, structure="canny", webhook=f"{receiver.base}/hook"
        )
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()["id"]
        assert (await api.wait_for(alice, job, "succeeded", "failed"))["status"] == "succeeded"
        for event in ("job.started", "job.completed"):
            await api.webhook_settled(job, event)
        engine_control.hold()
        running = (await api.submit(alice, prompt=PROMPT)).json()["id"]
        await engine_control.wait_held()
        queued = (await api.submit(alice, prompt=PROMPT)).json()["id"]
        ids = {"job": job, "running": running, "queued": queued, "name": CHARACTER}
        before = await snapshot(api, data_dir)

        for (method, template), paths in RESOURCE_CASES.items():
            for path in paths:
                url = path.format(**ids)
                theirs = await api.client.request(method, url, headers=bob, **body_for(method, template))
                missing = await api.client.request(
                    method, path.format(**MISSING), headers=bob, **body_for(method, template)
                )
                assert theirs.status_code == missing.status_code == 404, (method, url, theirs.text)
                assert theirs.headers["content-type"] == "application/json", (method, url)
                assert same_words(theirs) == same_words(missing), (method, url)  # nothing tells them apart

        # Routes of no resource: Bob sees and changes only his own.
        listing = await api.client.get("/v1/jobs", headers=bob)
        assert listing.status_code == 200 and listing.json()["jobs"] == []
        paged = await api.client.get(f"/v1/jobs?before={queued + 1}", headers=bob)
        assert paged.status_code == 200 and paged.json()["jobs"] == []
        borrowed = await api.submit(bob, prompt="a portrait", character=CHARACTER)
        assert borrowed.status_code == 404, borrowed.text
        assert (await api.client.get("/v1/characters", headers=bob)).json()["characters"] == []
        for method, path in sorted(OWN_SCOPE_CASES - {("POST", "/v1/jobs"), ("POST", "/v1/characters")}):
            if (method, path) == ("DELETE", "/v1/me"):
                continue  # last: it takes Bob's key with it
            shown = await api.client.request(method, path, headers=bob)
            assert shown.status_code == 200, (method, path, shown.text)
            no_trace_of_alice(shown)
        assert await snapshot(api, data_dir) == before

        namesake = await api.client.post("/v1/characters", json={"name": CHARACTER}, headers=bob)
        assert namesake.status_code == 201  # names are per user: Bob's own "Quillane", beside Alice's
        forgotten = await api.client.delete("/v1/me", headers=bob)
        assert forgotten.status_code == 200 and forgotten.json()["characters"] == 1, forgotten.text
        assert await snapshot(api, data_dir) == before

        mine = await api.client.get(f"/v1/characters/{CHARACTER}", headers=alice)
        assert mine.status_code == 200 and len(mine.json()["references"]) == 2
        assert (await api.client.get(f"/v1/jobs/{job}/structure", headers=alice)).status_code == 200
        engine_control.release()
        assert (await api.wait_for(alice, queued, "succeeded"))["status"] == "succeeded"
