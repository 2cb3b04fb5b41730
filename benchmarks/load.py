# ruff: noqa: E402  (sys.path is fixed before the imports; see below)
"""Load and soak: many simulated users at once through the HTTP API and the fake Discord, on the
tiny bundle, then a long run of jobs through the API, with the process's memory and the data
folder watched. Prints Markdown tables (paste into docs/benchmarks.md). Run from the repository root::

    python benchmarks/load.py [--users 100] [--jobs 10] [--soak 2000] [--steps 1]

1. load: ``--users`` users (half with an API key, half on Discord) each submit ``--jobs`` jobs as
   fast as they are accepted (each waits for one of theirs to finish when the per-user limit is
   reached, as a person refused "you have 3 waiting" would). Reported: accepted, succeeded and
   lost (accepted but never done); jobs per minute; submit latency p50 and p99 (``POST /v1/jobs``
   to its 202, and a slash command to Discord's acknowledgement), and, beside it, the queue's own
   cost (the same check and submit called in-process), since the target is "under 100 ms over the
   queue"; each user's mean wait from queued to started (their spread shows the fair pick at work).
2. soak: ``--soak`` jobs through the API, the RSS at 0, 500, 1,000 and 2,000 jobs (or the scaled
   points), and the jobs' rows, media files and bytes before and after the history sweep.

Targets: nothing lost; submit p99 under 100 ms over the queue's own cost; RSS growth under 5 % from
the first quarter of the soak to its end; rows and files back to the swept size.
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
import gc
import logging
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from tqdm import tqdm

from bot.actions.submissions import Destination
from bot.api.app import Api
from bot.app.client import make_bot
from bot.app.services import Services
from bot.app.settings import Settings, load_settings
from bot.params import JobParams
from bot.tiny import build_tiny_bundle
from storage import JobStatus
from tests.fakediscord import FakeDiscord, FakeUser

log = logging.getLogger("benchmarks.load")
PER_USER = 3  # the bot's default LIKENESS_QUEUE_PER_USER: users wait as real ones would


@dataclass
class Tally:
    accepted: list[int] = field(default_factory=list)  # job ids
    refused: int = 0  # per-user limit: retried after one of theirs finished
    api_submit: list[float] = field(default_factory=list)  # seconds
    discord_submit: list[float] = field(default_factory=list)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000 if ordered else 0.0


def rss_mb() -> float:
    """Resident memory now (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def finished(services: Services, job_id: int, timeout: float = 600) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await services.jobs.get(job_id)
        if row is not None and row.status in (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED):
            return row.status
        await asyncio.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not finish in {timeout:.0f} s")


async def api_user(
    services: Services, client: httpx.AsyncClient, key: str, jobs: int, tally: Tally, bar: tqdm
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    mine: list[int] = []
    for n in range(jobs):
        while True:
            started = time.perf_counter()
            response = await client.post("/v1/jobs", json={"prompt": f"load {n}", "seed": n}, headers=headers)
            elapsed = time.perf_counter() - started
            if response.status_code == 202:
                tally.api_submit.append(elapsed)
                mine.append(response.json()["id"])
                tally.accepted.append(mine[-1])
                break
            if response.status_code != 429 or len(mine) == 0:
                raise RuntimeError(f"submit refused: {response.status_code} {response.text}")
            tally.refused += 1
            await finished(services, mine[-PER_USER])  # wait for one of mine, then try again
    for job_id in mine:
        await finished(services, job_id)
        bar.update()


async def discord_user(
    services: Services, fake: FakeDiscord, user: FakeUser, jobs: int, tally: Tally, bar: tqdm
) -> None:
    waiting: list[asyncio.Task[object]] = []
    for n in range(jobs):
        if len(waiting) >= PER_USER:  # the limit: wait for my oldest, as the refusal would say
            await waiting.pop(0)
        started = time.perf_counter()
        interaction = await fake.slash(user, "generate", {"prompt": f"load {n}", "seed": n})
        await interaction.wait_response(timeout=60)
        tally.discord_submit.append(time.perf_counter() - started)
        waiting.append(
            asyncio.create_task(
                interaction.wait_final(lambda m: bool(m.files) or " failed" in m.content, 900)
            )
        )
    for task in waiting:
        await task
    for row in await services.jobs.user_jobs(user.id):
        tally.accepted.append(row.id)
    bar.update(jobs)


async def queue_cost(services: Services, n: int) -> list[float]:
    """The in-process check and submit (the queue's own cost), for jobs cancelled right after."""
    samples = []
    for i in range(-5, n):  # five to warm up, not counted
        started = time.perf_counter()
        draft = await services.submissions.check(10_000_000 + i, JobParams(prompt=f"cost {i}"))
        ticket = await services.submissions.submit(draft, Destination())
        if i >= 0:
            samples.append(time.perf_counter() - started)
        await services.jobs.cancel(ticket.job.id, 10_000_000 + i)
    return samples


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Services, FakeDiscord, httpx.AsyncClient]]:
    fake = FakeDiscord()
    await fake.start()
    fake.install()
    services = await Services.open(settings)
    await services.load_models()
    bot = make_bot(services, guild_ready_timeout=0.02)
    task = asyncio.create_task(bot.serve())
    api = Api(services)
    await api.start()
    try:
        while not bot.is_ready():
            await asyncio.sleep(0.02)
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://likeness", timeout=120) as client:
            yield services, fake, client
    finally:
        await api.stop()
        await bot.close()
        await asyncio.gather(task, return_exceptions=True)
        await services.close()
        fake.uninstall()
        await fake.close()


async def load(
    services: Services, fake: FakeDiscord, client: httpx.AsyncClient, users: int, jobs: int
) -> None:
    api_users = users // 2
    keys = [(await services.keys.create(1000 + u, "load")).key for u in range(api_users)]
    members = [fake.add_user(f"member{u}") for u in range(users - api_users)]
    tally = Tally()
    cost = await queue_cost(services, 50)
    started = time.perf_counter()
    with tqdm(total=users * jobs, desc="load", unit="job", file=sys.stderr) as bar:
        await asyncio.gather(
            *(api_user(services, client, key, jobs, tally, bar) for key in keys),
            *(discord_user(services, fake, m, jobs, tally, bar) for m in members),
        )
    elapsed = time.perf_counter() - started
    rows = [await services.jobs.get(job_id) for job_id in tally.accepted]
    done = [r for r in rows if r is not None and r.status is JobStatus.DONE]
    waits: dict[int, list[float]] = {}
    for r in done:
        if r.started_at is not None:
            waits.setdefault(r.user_id, []).append(r.started_at - r.created_at)
    means = sorted(statistics.fmean(w) for w in waits.values())
    print(f"\n### Load: {users} users × {jobs} jobs ({api_users} on the API, {len(members)} on Discord)\n")
    print("| what | value |\n| --- | --- |")
    lost = len(tally.accepted) - len(done)
    print(f"| accepted / succeeded / lost | {len(tally.accepted)} / {len(done)} / {lost} |")
    print(f"| refused at the per-user limit, then retried | {tally.refused} |")
    print(f"| jobs per minute | {len(done) / elapsed * 60:.0f} |")
    print(f"| queue's own submit cost p50 / p99 | {pct(cost, 0.5):.1f} / {pct(cost, 0.99):.1f} ms |")
    print(
        f"| API submit p50 / p99 | {pct(tally.api_submit, 0.5):.1f} / {pct(tally.api_submit, 0.99):.1f} ms |"
    )
    print(
        f"| Discord submit (to the acknowledgement) p50 / p99 | {pct(tally.discord_submit, 0.5):.1f} / "
        f"{pct(tally.discord_submit, 0.99):.1f} ms |"
    )
    if means:
        print(
            f"| mean wait per user: min / median / max | {means[0]:.1f} / {statistics.median(means):.1f} / "
            f"{means[-1]:.1f} s |"
        )


async def footprint(services: Services, data_dir: Path) -> tuple[int, int, int, int]:
    """Job rows, output rows, media files and the data folder's bytes."""
    jobs = int(await services.db.fetchval("SELECT COUNT(*) FROM jobs"))
    outputs = int(await services.db.fetchval("SELECT COUNT(*) FROM job_outputs"))
    files = (
        [p for p in (data_dir / "media").rglob("*") if p.is_file()] if (data_dir / "media").exists() else []
    )
    size = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    return jobs, outputs, len(files), size


async def soak(services: Services, client: httpx.AsyncClient, total: int, data_dir: Path) -> None:
    key = (await services.keys.create(999, "soak")).key
    headers = {"Authorization": f"Bearer {key}"}
    await services.jobs.sweep(0)
    await services.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = await footprint(services, data_dir)
    marks = sorted({0, total // 4, total // 2, total})
    memory: dict[int, float] = {}
    gc.collect()
    memory[0] = rss_mb()
    window: list[int] = []
    with tqdm(total=total, desc="soak", unit="job", file=sys.stderr) as bar:
        for n in range(1, total + 1):
            if len(window) >= PER_USER:
                await finished(services, window.pop(0))
            response = await client.post("/v1/jobs", json={"prompt": f"soak {n}", "seed": n}, headers=headers)
            response.raise_for_status()
            window.append(response.json()["id"])
            bar.update()
            if n in marks:
                for job_id in window:
                    await finished(services, job_id)
                window.clear()
                gc.collect()
                memory[n] = rss_mb()
    after = await footprint(services, data_dir)
    swept = await services.jobs.sweep(0)
    await services.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cleaned = await footprint(services, data_dir)
    first = memory[marks[1]]
    print(f"\n### Soak: {total} jobs through the API\n")
    print("| jobs done | RSS (MB) |\n| --- | --- |")
    for n in marks:
        print(f"| {n} | {memory[n]:.0f} |")
    print(f"\nRSS growth from {marks[1]} to {total} jobs: {(memory[total] / first - 1) * 100:+.1f} %\n")
    print("| | job rows | output rows | media files | data folder (MB) |\n| --- | --- | --- | --- | --- |")
    for label, (j, o, f, b) in (
        ("before", before),
        ("after the soak", after),
        (f"after the sweep ({swept})", cleaned),
    ):
        print(f"| {label} | {j} | {o} | {f} | {b / 1e6:.1f} |")


async def run(users: int, jobs: int, total: int, steps: int) -> None:
    with tempfile.TemporaryDirectory(prefix="likeness-load-") as tmp:
        bundle = build_tiny_bundle(Path(tmp) / "tiny")
        data_dir = Path(tmp) / "data"
        settings = load_settings(
            bundle.env_file,
            discord_token="fake-bot-token",
            data_dir=data_dir,
            default_steps=steps,
            queue_total=10_000,
            api_rate_limit=100_000,
        )
        async with running(settings) as (services, fake, client):
            await load(services, fake, client, users, jobs)
            await soak(services, client, total, data_dir)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=10, help="jobs per user in the load phase")
    parser.add_argument("--soak", type=int, default=2000, help="jobs in the soak phase")
    parser.add_argument("--steps", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(run(args.users, args.jobs, args.soak, args.steps))


if __name__ == "__main__":
    main()
