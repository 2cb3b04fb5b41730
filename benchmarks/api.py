# ruff: noqa: E402  (sys.path is fixed before the imports; see below)
"""HTTP API benchmark: what the API adds to submitting and polling a job, and how many polls one
process answers while a job runs. Tiny random-weight bundle, uvicorn on a real local socket.

Prints Markdown tables (paste into docs). Run from the repository root::

    python benchmarks/api.py [--jobs 200] [--seconds 5]

1. submit: ``POST /v1/jobs`` (JSON, prompt only) vs the same ``Submissions.check`` + ``submit``
   called in-process — "the queue's own cost" — with the worker stopped, so jobs only queue;
2. poll: ``GET /v1/jobs/{id}`` vs the same row read and view built in-process;
3. polls per second from 1 and 4 clients while the worker runs a job.

Target: the API adds at most 20 ms (p50) over the queue's own cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import asyncio
import contextlib
import logging
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable

import httpx
from tqdm import tqdm

from bot.actions.submissions import Destination
from bot.api.app import Api
from bot.app.services import Services
from bot.app.settings import load_settings
from bot.params import JobParams
from bot.tiny import build_tiny_bundle

log = logging.getLogger("benchmarks.api")
TARGET_MS = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def timed(n: int, call: Callable[[int], Awaitable[object]], label: str) -> list[float]:
    samples = []
    for i in tqdm(range(n), desc=label, unit="req", leave=False, file=sys.stderr):
        started = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - started)
    return samples


async def run(jobs: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="likeness-api-bench-") as tmp:
        bundle = build_tiny_bundle(Path(tmp) / "tiny")
        port = free_port()
        settings = load_settings(
            bundle.env_file,
            data_dir=Path(tmp) / "data",
            api_port=port,
            queue_total=10_000,
            queue_per_user=100,
            api_rate_limit=100_000,
            default_steps=20,
        )
        services = await Services.open(settings)
        await services.load_models()
        api = Api(services)
        await api.start()
        ready = asyncio.Event()
        server = asyncio.create_task(api.serve("127.0.0.1", port, ready=ready))
        await ready.wait()
        try:
            keys = [(await services.keys.create(user, "bench")).key for user in range(1, 51)]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                await report(services, api, client, keys, jobs, seconds)
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
            await api.stop()
            await services.close()


async def report(
    services: Services, api: Api, client: httpx.AsyncClient, keys: list[str], jobs: int, seconds: float
) -> None:
    """``keys``: one per user, so the per-user limit never refuses a submit."""
    submissions = services.submissions
    client.headers["Authorization"] = f"Bearer {keys[0]}"

    def as_user(i: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[i % len(keys)]}"}

    async def direct_submit(i: int) -> None:
        draft = await submissions.check(1000 + i % 50, JobParams(prompt=f"benchmark {i}"))
        await submissions.submit(draft, Destination())

    async def api_submit(i: int) -> None:
        response = await client.post("/v1/jobs", json={"prompt": f"benchmark {i}"}, headers=as_user(i))
        response.raise_for_status()

    for i in range(5):  # warm both paths
        await direct_submit(i)
        await api_submit(i)
    direct = await timed(jobs, direct_submit, "submit, in-process")
    over_api = await timed(jobs, api_submit, "submit, API")
    job = (await services.jobs.user_jobs(1, limit=1))[0]

    async def direct_poll(i: int) -> None:
        row = await services.jobs.get(job.id)
        assert row is not None
        await api.ctx.views.view(row)

    async def api_poll(i: int) -> None:
        (await client.get(f"/v1/jobs/{job.id}")).raise_for_status()

    direct_polls = await timed(jobs, direct_poll, "poll, in-process")
    api_polls = await timed(jobs, api_poll, "poll, API")

    rows = [
        ("submit", direct, over_api),
        ("poll", direct_polls, api_polls),
    ]
    print("| request | queue's own p50 ms | p99 | over the API p50 ms | p99 | API adds p50 ms | ≤ 20 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, own, http in rows:
        added = pct(http, 0.5) - pct(own, 0.5)
        verdict = "PASS" if added <= TARGET_MS else "FAIL"
        print(
            f"| {name} | {pct(own, 0.5):.2f} | {pct(own, 0.99):.2f} | {pct(http, 0.5):.2f} | "
            f"{pct(http, 0.99):.2f} | {added:+.2f} | {verdict} |"
        )

    # Clear the backlog, then run one long job and poll it meanwhile.
    await services.db.execute(
        "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE status = 'queued'", (time.time(),)
    )
    await services.queue.start()
    running = (await client.post("/v1/jobs", json={"prompt": "a long job", "steps": 100})).json()["id"]
    async with asyncio.timeout(60):
        while (await client.get(f"/v1/jobs/{running}")).json()["status"] != "running":
            await asyncio.sleep(0.01)
    print("\n| clients polling while a job runs | polls/s | p50 ms | p99 ms |")
    print("| ---: | ---: | ---: | ---: |")
    for clients in (1, 4):
        samples = await poll_for(client, running, clients, seconds)
        rate = len(samples) / seconds
        print(f"| {clients} | {rate:.0f} | {pct(samples, 0.5):.2f} | {pct(samples, 0.99):.2f} |")
    still = (await client.get(f"/v1/jobs/{running}")).json()["status"]
    await client.post(f"/v1/jobs/{running}/cancel")
    print(
        f"\n_{jobs} requests each; the worker stopped for submit and poll, so jobs only queue; the polled "
        f"job was {still} throughout; Python {sys.version.split()[0]}; uvicorn on 127.0.0.1._"
    )


async def poll_for(client: httpx.AsyncClient, job_id: int, clients: int, seconds: float) -> list[float]:
    """``clients`` concurrent pollers of one job for ``seconds``: each request's latency."""
    samples: list[float] = []
    stop = time.perf_counter() + seconds

    async def poller() -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            (await client.get(f"/v1/jobs/{job_id}")).raise_for_status()
            samples.append(time.perf_counter() - started)

    await asyncio.gather(*(poller() for _ in range(clients)))
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="requests per measurement")
    parser.add_argument("--seconds", type=float, default=5.0, help="polling time per client count")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.jobs, args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
