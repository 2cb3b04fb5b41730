"""``LIKENESS_METRICS_PORT``: the metrics on prometheus_client's own server, for a bot without the
HTTP API; what a scrape shows after a restart comes from the queue, not from events seen."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app.services import Services
from bot.app.settings import load_settings
from bot.errors import SettingsInvalid
from bot.metrics.server import is_loopback
from bot.params import JobParams, resolve
from bot.tiny import TinyBundle
from storage import NewJob


def gauges(text: str) -> dict[str, float]:
    """Unlabelled samples by name, and ``likeness_queue_jobs`` as ``…{state}``."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            state = sample.labels.get("state")
            found[f"{sample.name}{{{state}}}" if state else sample.name] = sample.value
    return found


@pytest.mark.asyncio(loop_scope="session")
async def test_a_restarted_bot_scrapes_what_the_queue_holds(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = await Services.open(load_settings(tiny_bundle.env_file, data_dir=data))
    try:
        for user in (1, 1, 2):  # queued by the process that stops now, never run
            await first.queue.submit(NewJob(user_id=user, params=resolve(JobParams(prompt="a fox"))))
    finally:
        await first.close()

    settings = load_settings(tiny_bundle.env_file, data_dir=data, metrics_port=0)
    services = await Services.open(settings)  # no models loaded, no queue started: as at start-up
    try:
        services.serve_metrics()
        assert services.metrics_server is not None
        url = f"http://127.0.0.1:{services.metrics_server.port}/metrics"
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url)
        assert response.status_code == 200
        seen = gauges(response.text)
        assert seen["likeness_queue_state_ok"] == 1
        assert seen["likeness_queue_jobs{queued}"] == 3 and seen["likeness_queue_jobs{running}"] == 0
        assert seen["likeness_queue_users"] == 2
        assert seen["likeness_model_loaded"] == 0 and seen["likeness_workers_ready"] == 0
        assert seen["likeness_dispatcher_up"] == 1
        # This process saw no submit: its counters start at zero, as Prometheus' rate() expects.
        submitted = [s for f in text_string_to_metric_families(response.text) for s in f.samples]
        assert sum(s.value for s in submitted if s.name == "likeness_jobs_submitted_total") == 0
    finally:
        await services.close()
    with pytest.raises(httpx.ConnectError):  # close() stopped the server
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(url)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_taken_port_stops_start_up_naming_the_setting(
    tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings(tiny_bundle.env_file, data_dir=tmp_path / "data", metrics_port=port)
        services = await Services.open(settings)
        try:
            with pytest.raises(SettingsInvalid, match=f"LIKENESS_METRICS_PORT={port}: cannot listen"):
                services.serve_metrics()
        finally:
            await services.close()


def test_the_metrics_key_is_never_shown_in_an_error(tiny_bundle: TinyBundle) -> None:
    with pytest.raises(SettingsInvalid) as refused:
        load_settings(tiny_bundle.env_file, metrics_key="hunter2")
    assert "hunter2" not in str(refused.value) and "at least 16 characters" in str(refused.value)


def test_only_loopback_counts_as_private() -> None:
    """What decides the warnings that metrics are open to a network."""
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.4", "metrics.example"))
