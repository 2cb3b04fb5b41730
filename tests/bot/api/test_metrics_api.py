"""``GET /metrics`` against the real app, services and tiny model (64 px), read with Prometheus' own
parser: the jobs' counters and histograms, the gauges read at scrape time, requests by route template,
webhooks by outcome, the metrics key, and labels that never carry an id."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route

from bot.jobs import Candidate, GenerationResult
from bot.metrics.listener import JobMetrics
from bot.metrics.registry import Metrics
from bot.params import Mode
from bot.tiny import TinyBundle
from storage import JobStatus
from tests.bot.api.harness import ApiHarness, api_settings, running_api
from tests.bot.api.receiver import running_receiver
from tests.cogs.harness import EngineControl

pytestmark = pytest.mark.asyncio(loop_scope="session")

METRICS_KEY = "operator-metrics-key-0123"
AUTH = {"Authorization": f"Bearer {METRICS_KEY}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(tiny_bundle: TinyBundle, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiHarness]:
    """One API for the module (counters only grow in it: the tests compare before and after)."""
    data = tmp_path_factory.mktemp("metrics") / "data"
    settings = api_settings(
        tiny_bundle, data, metrics_key=METRICS_KEY, api_allow_private_urls=True, webhook_max_tries=2
    )
    async with running_api(settings) as harness:
        yield harness


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(api: ApiHarness) -> Samples:
    response = await api.client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def run_job(api: ApiHarness, key: dict[str, str], *states: str, **fields: object) -> dict[str, object]:
    response = await api.submit(key, **fields)
    assert response.status_code == 202, response.text
    return await api.wait_for(key, response.json()["id"], *states)


async def test_a_job_through_the_api_is_counted_and_timed(api: ApiHarness) -> None:
    key = await api.key(1)
    before = await scrape(api)
    job = await run_job(api, key, "succeeded", "failed", prompt="a lighthouse", candidates=2, seed=3)
    assert job["status"] == "succeeded", job
    after = await scrape(api)
    text, done = {"mode": "text", "source": "api"}, {"mode": "text", "outcome": "done"}
    assert delta(before, after, "likeness_jobs_submitted_total", **text) == 1
    assert delta(before, after, "likeness_jobs_finished_total", **done, source="api") == 1
    assert (
        delta(before, after, "likeness_jobs_finished_total", mode="text", outcome="failed", source="api") == 0
    )
    assert delta(before, after, "likeness_job_duration_seconds_count", **done) == 1
    assert delta(before, after, "likeness_job_duration_seconds_sum", **done) > 0
    assert delta(before, after, "likeness_job_duration_seconds_bucket", **done, le="+Inf") == 1
    assert delta(before, after, "likeness_job_queue_wait_seconds_count") == 1
    assert delta(before, after, "likeness_candidates_generated_total", mode="text") == 2
    assert delta(before, after, "likeness_generation_rounds_total", mode="text") == 1
    # The polls of GET /v1/jobs/17 are counted under the route's template, the POST under its own.
    polled = {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "200"}
    assert delta(before, after, "likeness_http_requests_total", **polled) >= 1
    posted = {"method": "POST", "route": "/v1/jobs", "status": "202"}
    assert delta(before, after, "likeness_http_requests_total", **posted) == 1
    assert (
        delta(before, after, "likeness_http_request_duration_seconds_count", method="POST", route="/v1/jobs")
        == 1
    )
    assert not any(f"/v1/jobs/{job['id']}" in dict(labels).values() for _, labels in after)
    # The gauges, read from the queue at the scrape: nothing waits, the one worker is idle.
    assert value(after, "likeness_queue_state_ok") == 1
    assert value(after, "likeness_queue_jobs", state="queued") == 0
    assert value(after, "likeness_queue_jobs", state="running") == 0
    assert value(after, "likeness_workers") == value(after, "likeness_workers_ready") == 1
    assert value(after, "likeness_workers_busy") == 0
    assert value(after, "likeness_dispatcher_up") == 1 and value(after, "likeness_model_loaded") == 1


async def test_a_failed_job_is_counted_failed(api: ApiHarness, engine_control: EngineControl) -> None:
    key = await api.key(2)
    before = await scrape(api)
    engine_control.fail_with.append(RuntimeError("the GPU fell over"))
    job = await run_job(api, key, "succeeded", "failed", prompt="a storm")
    assert job["status"] == "failed", job
    after = await scrape(api)
    failed = {"mode": "text", "outcome": "failed"}
    assert delta(before, after, "likeness_jobs_finished_total", **failed, source="api") == 1
    assert (
        delta(before, after, "likeness_jobs_finished_total", mode="text", outcome="done", source="api") == 0
    )
    assert delta(before, after, "likeness_job_duration_seconds_count", **failed) == 1
    assert delta(before, after, "likeness_candidates_generated_total", mode="text") == 0


async def test_the_gauges_are_what_the_queue_holds_at_the_scrape(
    api: ApiHarness, engine_control: EngineControl
) -> None:
    key = await api.key(3)
    engine_control.hold()
    running = (await api.submit(key, prompt="first")).json()["id"]
    await engine_control.wait_held()
    queued = (await api.submit(key, prompt="second")).json()["id"]
    held = await scrape(api)
    assert value(held, "likeness_queue_jobs", state="running") == 1
    assert value(held, "likeness_queue_jobs", state="queued") == 1
    assert value(held, "likeness_queue_users") == 1
    assert value(held, "likeness_workers_busy") == 1
    cancel = await api.client.post(f"/v1/jobs/{queued}/cancel", headers=key)
    assert cancel.status_code == 200, cancel.text
    engine_control.release()
    await api.wait_for(key, running, "succeeded")
    after = await scrape(api)
    cancelled = {"mode": "text", "outcome": "cancelled"}
    assert delta(held, after, "likeness_jobs_finished_total", **cancelled, source="api") == 1
    assert delta(held, after, "likeness_job_duration_seconds_count", **cancelled) == 0  # it never ran
    assert value(after, "likeness_queue_jobs", state="queued") == value(after, "likeness_queue_users") == 0
    assert value(after, "likeness_workers_busy") == 0


async def test_webhook_tries_are_counted_by_outcome(api: ApiHarness) -> None:
    key = await api.key(4)
    async with running_receiver() as receiver:
        receiver.answers = [500, 500]  # job.started fails both of its 2 tries; job.completed is taken
        before = await scrape(api)
        await run_job(api, key, "succeeded", prompt="a kite", webhook=f"{receiver.base}/hook")
        await receiver.wait_hooks(3)
        async with asyncio.timeout(30):  # the receiver answers before the sender records the try
            while True:
                after = await scrape(api)
                counts = {
                    outcome: delta(before, after, "likeness_webhook_deliveries_total", outcome=outcome)
                    for outcome in ("delivered", "retrying", "given_up")
                }
                if sum(counts.values()) >= 3:
                    break
                await asyncio.sleep(0.05)
    assert counts == {"delivered": 1, "retrying": 1, "given_up": 1}


async def test_labels_hold_templates_and_closed_sets_never_ids(api: ApiHarness) -> None:
    key = await api.key(5)
    for path in ("/v1/jobs/424242", "/v1/jobs/424242/outputs/7", "/v1/no-such-route/99"):
        assert (await api.client.get(path, headers=key)).status_code == 404
    assert (await api.client.delete("/metrics", headers=AUTH)).status_code == 405
    samples = await scrape(api)
    app = api.api.app
    templates = {*app.openapi()["paths"], *(r.path for r in app.routes if isinstance(r, Route)), "unmatched"}
    requests = [dict(labels) for name, labels in samples if name == "likeness_http_requests_total"]
    counted = {(r["method"], r["route"], r["status"]) for r in requests}
    everything = {label_value for _, labels in samples for _, label_value in labels}
    assert not {v for v in everything if "424242" in v or "no-such-route" in v}
    assert {route for _, route, _ in counted} <= templates
    assert ("GET", "/v1/jobs/{job_id}", "404") in counted
    assert ("GET", "/v1/jobs/{job_id}/outputs/{index}", "404") in counted
    assert ("GET", "unmatched", "404") in counted and ("DELETE", "/metrics", "405") in counted
    allowed = {
        "mode": {m.value for m in Mode},
        "outcome": {"done", "failed", "cancelled", "delivered", "retrying", "given_up"},
        "source": {"discord", "api", "cli"},
        "state": {"queued", "running"},
        "method": {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"},
        "route": templates,
    }
    for name, frozen in samples:
        if not name.startswith("likeness_"):
            continue
        for label, label_value in frozen:
            if label == "status":
                assert re.fullmatch(r"[1-5]\d\d", label_value), (name, label_value)
            elif label != "le":
                assert label_value in allowed[label], (name, label, label_value)
    # Every mode × outcome × source exists from the start, and no job adds one.
    finished = [s for s in samples if s[0] == "likeness_jobs_finished_total"]
    assert len(finished) == len(Mode) * 3 * 3


async def test_the_metrics_key(api: ApiHarness) -> None:
    user_key = await api.key(6)
    for headers in (
        {},
        {"Authorization": "Bearer not-the-metrics-key"},
        user_key,
        {"Authorization": "Basic x"},
    ):
        refused = await api.client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "unauthorized"
        assert "likeness_" not in refused.text
    assert (await api.client.get("/metrics", headers=AUTH)).status_code == 200


async def test_without_a_key_the_metrics_are_open(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        for headers in ({}, await api.key(1)):  # an API key is not checked, nor needed
            response = await api.client.get("/metrics", headers=headers)
            assert response.status_code == 200, response.text
            assert value(parse(response.text), "likeness_queue_state_ok") == 1
        doc = (await api.client.get("/openapi.json")).json()
        operation = doc["paths"]["/metrics"]["get"]
        assert list(operation["responses"]["200"]["content"]) == ["text/plain"]
        assert sorted(operation["security"], key=len) == [{}, {"MetricsKey": []}]  # a key or none
        assert doc["components"]["securitySchemes"]["MetricsKey"]["scheme"] == "bearer"


async def test_identity_scores_go_to_their_own_registry(api: ApiHarness) -> None:
    """Scored candidates (face-locked ones with a face) make the similarity histogram; a second
    ``Metrics`` in the same process counts apart from the app's."""
    key = await api.key(7)
    job = await run_job(api, key, "succeeded", prompt="a portrait")
    row = await api.services.jobs.get(int(str(job["id"])))
    assert row is not None
    app_before = await scrape(api)
    own = Metrics()
    scores = (0.42, 0.81, None)
    candidates = tuple(Candidate(b"", i, 64, 64, "", identity=s) for i, s in enumerate(scores))
    result = GenerationResult(row.params, candidates, "tiny", 0.5, tries=2)
    await JobMetrics(own).job_finished(row, result)
    samples = parse(own.exposition().decode())
    assert value(samples, "likeness_candidate_identity_similarity_count") == 2
    assert value(samples, "likeness_candidate_identity_similarity_bucket", le="0.5") == 1
    assert value(samples, "likeness_candidate_identity_similarity_sum") == pytest.approx(1.23)
    assert value(samples, "likeness_candidates_generated_total", mode="text") == 3
    assert value(samples, "likeness_generation_rounds_total", mode="text") == 2
    unfinished = dataclasses.replace(row, status=JobStatus.RUNNING)
    await JobMetrics(own).job_finished(unfinished, None)  # not an outcome: ignored
    assert value(parse(own.exposition().decode()), "likeness_candidate_identity_similarity_count") == 2
    app_after = await scrape(api)
    assert delta(app_before, app_after, "likeness_candidate_identity_similarity_count") == 0


async def test_collecting_on_the_event_loop_is_refused_not_a_deadlock(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    began = time.perf_counter()
    with caplog.at_level(logging.ERROR, "bot.metrics.state"):
        samples = parse(api.services.metrics.exposition().decode())
    assert time.perf_counter() - began < 1.0
    assert value(samples, "likeness_queue_state_ok") == 0
    assert ("likeness_queue_jobs", frozenset({("state", "queued")})) not in samples
    assert "collect them in a thread" in caplog.text


async def test_the_text_format_a_prometheus_server_reads(api: ApiHarness) -> None:
    """TYPE lines, counters named with ``_total``, no ``_created`` series, the process's own metrics."""
    text = (await api.client.get("/metrics", headers=AUTH)).text
    assert "# TYPE likeness_jobs_finished_total counter" in text
    assert "# TYPE likeness_job_duration_seconds histogram" in text
    assert "# TYPE likeness_queue_jobs gauge" in text
    assert "_created" not in text
    assert "process_resident_memory_bytes" in text and "python_info" in text
