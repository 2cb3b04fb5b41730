"""The API keeps the contract of its own ``/openapi.json``: schemathesis' examples and coverage
phases against the real app, services and tiny model, in process over ASGI, with a real key.

Every answer must be no 5xx, and its status, content type, headers and body must be the ones the
document gives for that route (schemathesis' conformance checks). Before the run the user has a
finished job 1 (two outputs and a structure map), a job 2 held running at its first step, and a
character Mara with two images, so the cases reach real objects: a JobView of each state, a
cancel answered 202, an event stream's progress and completed events. The jobs the cases submit
queue behind job 2 until the user's queue is full, and then answer 429 with Retry-After.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis import Case
from schemathesis.schemas import BaseSchema
from starlette.types import Receive, Scope, Send

from bot.api.params import SQLITE_MAX
from bot.app.settings import Settings
from bot.tiny import TinyBundle
from tests.bot.api.harness import ApiHarness, api_settings, photo, running_api
from tests.bot.engine.helpers import face_photo
from tests.cogs.harness import EngineControl

log = logging.getLogger(__name__)

CONFIG: dict[str, Any] = {
    "seed": 1,
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": False},
        "stateful": {"enabled": False},
    },
    # No 5xx; every status, content type, header and body as documented; invalid input refused (4xx),
    # no key refused (401), an undocumented method 405 with a true Allow, a deleted job gone (404).
    # Not positive_data_acceptance: ranges are the job's own rules (422), not the schema's.
    "checks": {
        "enabled": False,
        **{
            name: {"enabled": True}
            for name in (
                "not_a_server_error",
                "status_code_conformance",
                "content_type_conformance",
                "response_headers_conformance",
                "response_schema_conformance",
                "negative_data_rejection",
                "missing_required_header",
                "ignored_auth",
                "unsupported_method",
                "allow_header_conformance",
                "use_after_free",
                "ensure_resource_availability",
            )
        },
    },
    "generation": {"deterministic": True},
    "request-timeout": 30,
    "max-stream-events": 1,  # job 2's stream stops at its first step: one event is all it sends
}


def _no_network(*args: object, **kwargs: object) -> list[Any]:
    """No name resolves: a generated image_url or webhook is refused before any traffic leaves."""
    raise socket.gaierror(socket.EAI_NONAME, "the contract test reaches no network")


class ContractApp:
    """The API as an ASGI app whose lifespan is ``running_api``: schemathesis' client starts it on
    its own event loop, so the services, the queue and every request share that loop."""

    def __init__(self, settings: Settings, engine: EngineControl) -> None:
        self.settings = settings
        self.engine = engine
        self.harness: ApiHarness | None = None
        self.headers: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self.harness is not None, "the lifespan starts the API"
        try:
            await self.harness.api.app(scope, receive, send)
        except Exception:
            # As uvicorn does: Starlette has answered 500 (which the checks fail) and re-raised for the log.
            log.exception("the API failed on %s %s", scope["method"], scope["path"])

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "lifespan.startup"
        async with running_api(self.settings) as harness:
            try:
                # A held job never reaches its next step: forgetting gives up on it (409) at once.
                harness.services.forget_stop_wait = 0.5
                self.headers = await harness.key(1, "contract")
                await _seed(harness, self.headers, self.engine)
                self.harness = harness
                await send({"type": "lifespan.startup.complete"})
                assert (await receive())["type"] == "lifespan.shutdown"
            finally:
                self.harness = None
                self.engine.release()  # job 2 ends (it was cancelled), so the worker can stop
        await send({"type": "lifespan.shutdown.complete"})


async def _seed(api: ApiHarness, key: dict[str, str], engine: EngineControl) -> None:
    """Job 1 (finished: outputs 0 and 1, a structure map), Mara (images 1 and 2), job 2 (running)."""
    accepted = await api.submit(key, photo(), prompt="a tower", structure="canny", candidates=2, seed=7)
    assert accepted.status_code == 202 and accepted.json()["id"] == 1, accepted.text
    job = await api.wait_for(key, 1, "succeeded", "failed")
    assert job["status"] == "succeeded" and job["structure_url"], job
    created = await api.client.post("/v1/characters", json={"name": "Mara"}, headers=key)
    assert created.status_code == 201, created.text
    for seed in (0, 5):
        files = {"image": ("face.png", face_photo(1, seed=seed), "image/png")}
        added = await api.client.post("/v1/characters/Mara/images", files=files, headers=key)
        assert added.status_code == 201, added.text
    engine.hold()
    held = await api.submit(key, prompt="a held job")
    assert held.status_code == 202 and held.json()["id"] == 2, held.text
    await engine.wait_held()


@pytest.fixture
def api_schema(
    request: pytest.FixtureRequest,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    engine_control: EngineControl,
    monkeypatch: pytest.MonkeyPatch,
) -> BaseSchema:
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    # schemathesis 4.32 names its per-operation reports through Node._nodeid, which pytest 9.2 dropped
    request.node._nodeid = request.node.nodeid
    # schemathesis probes each route with a wrong key: many failures from one address, by design
    settings = api_settings(
        tiny_bundle,
        data_dir,
        api_rate_limit=100_000,
        api_user_rate_limit=100_000,
        api_auth_failures=100_000,
        queue_per_user=2,
    )
    app = ContractApp(settings, engine_control)
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=schemathesis.Config.from_dict(CONFIG)
    )
    schema.config.update(headers=app.headers)  # the key exists once the lifespan has started
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


# Operations run in the document's order, and DELETE /v1/jobs/{job_id} comes before the job's outputs,
# structure and events: the deletions get a fresh API of their own, so the reads find job 1.
@schema.exclude(method="DELETE").parametrize()
def test_every_answer_is_as_the_document_says(case: Case) -> None:
    case.call_and_validate()


@schema.include(method="DELETE").parametrize()
def test_every_deletion_answers_as_the_document_says(case: Case) -> None:
    case.call_and_validate()


async def test_the_document_is_valid_openapi(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        response = await api.client.get("/openapi.json")
    doc = response.json()
    validate(doc)
    assert doc["openapi"].startswith("3.1.")
    events = doc["paths"]["/v1/jobs/{job_id}/events"]["get"]["responses"]
    assert list(events["200"]["content"]) == ["text/event-stream"]
    assert all(list(events[s]["content"]) == ["application/json"] for s in ("401", "404", "422", "429"))
    assert "415" in doc["paths"]["/v1/jobs"]["post"]["responses"]
    assert "415" in doc["paths"]["/v1/characters"]["post"]["responses"]


async def test_numbers_beyond_sqlite_are_refused_as_422(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        key = await api.key(1)
        for big in (SQLITE_MAX + 1, 2**64, 10**30):
            for method, path in (
                ("GET", f"/v1/jobs/{big}"),
                ("GET", f"/v1/jobs?before={big}"),
                ("POST", f"/v1/jobs/{big}/cancel"),
                ("DELETE", f"/v1/jobs/{big}"),
                ("GET", f"/v1/jobs/1/outputs/{big}"),
                ("GET", f"/v1/jobs/{big}/structure"),
                ("GET", f"/v1/jobs/{big}/events"),
                ("POST", f"/v1/characters/ann/images/{big}/promote"),
                ("DELETE", f"/v1/characters/ann/images/{big}"),
            ):
                response = await api.client.request(method, path, headers=key)
                assert response.status_code == 422, (method, path, response.text)
                assert response.headers["content-type"] == "application/json"
                assert response.json()["error"]["code"] == "invalid_request"
        largest = await api.client.get(f"/v1/jobs/{SQLITE_MAX}", headers=key)
        assert largest.status_code == 404 and largest.json()["error"]["code"] == "not_found"
