# ruff: noqa: E402  (sys.path is fixed before the imports; see below)
"""Scale-out benchmark: jobs per minute on the local thread worker and on 1 and 2 Ray workers, and
what Ray adds to each job. Tiny random-weight bundle; every worker has one CPU thread, so two workers
on two cores are two GPUs in miniature.

Prints Markdown tables (paste into docs). Run from the repository root::

    python benchmarks/cluster.py [--jobs 24] [--steps 30] [--side 128]

1. throughput: ``--jobs`` img2img jobs from four users, submitted at once, drained by the fair queue
   on the local worker (one torch thread), on one Ray worker and on two;
2. overhead: half as many jobs run alone, one after another, on the local worker and on one Ray
   worker; the difference of the median job times (claimed to stored) is what Ray adds: the input
   and output bytes crossing processes, the streamed progress, the cancel watcher.

Targets: two workers give at least 1.8x the jobs per minute of one; Ray adds at most 20 ms per job.
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
import io
import logging
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import ray
import torch
from PIL import Image
from tqdm import tqdm

from bot.actions.submissions import Destination
from bot.app.services import Services
from bot.app.settings import load_settings
from bot.engine.uploads import UploadInfo
from bot.params import JobParams, Mode
from bot.running.queue import Job
from bot.tiny import TinyBundle, build_tiny_bundle
from storage import JobStatus

log = logging.getLogger("benchmarks.cluster")
SPEEDUP_TARGET = 1.8
OVERHEAD_TARGET_MS = 20.0
USERS = 4


def photo(side: int) -> bytes:
    image = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@contextlib.asynccontextmanager
async def opened(
    bundle: TinyBundle, data_dir: Path, workers: dict[str, Any], jobs: int, steps: int
) -> AsyncIterator[Services]:
    settings = load_settings(
        bundle.env_file,
        data_dir=data_dir,
        queue_per_user=jobs,
        queue_total=2 * jobs + 10,
        default_steps=steps,
        **workers,
    )
    services = await Services.open(settings)
    try:
        await services.load_models()
        services.queue.listeners.append(Finished())
        yield services
    finally:
        await services.close()


async def submit(services: Services, i: int, image: bytes) -> int:
    info = UploadInfo("photo.png", "image/png", len(image))
    params = JobParams(prompt=f"benchmark {i}", mode=Mode.IMG2IMG, seed=i)
    draft = await services.submissions.check(1 + i % USERS, params, image=info)
    return (await services.submissions.submit(draft, Destination(), image=image)).job.id


class Finished:
    """A queue listener: wakes the benchmark when a job is stored (no polling to load the CPU)."""

    def __init__(self) -> None:
        self.done: dict[int, asyncio.Future[Job]] = {}

    def future(self, job_id: int) -> asyncio.Future[Job]:
        return self.done.setdefault(job_id, asyncio.get_running_loop().create_future())

    async def job_queued(self, ticket: Any) -> None: ...
    async def job_started(self, job: Job) -> None: ...
    async def job_progress(self, job: Job, step: int, total: int) -> None: ...

    async def job_finished(self, job: Job, result: Any) -> None:
        if not self.future(job.id).done():
            self.future(job.id).set_result(job)


async def finished(services: Services, job_id: int) -> float:
    """Wait for the job; its time from claimed to stored."""
    listener = next(x for x in services.queue.listeners if isinstance(x, Finished))
    row = await listener.future(job_id)
    if row.status is not JobStatus.DONE or row.finished_at is None or row.started_at is None:
        raise RuntimeError(f"job {job_id} failed: {row.error}")
    return row.finished_at - row.started_at


async def measure(
    bundle: TinyBundle, data_dir: Path, workers: dict[str, Any], jobs: int, steps: int, side: int
) -> tuple[float, list[float]]:
    """(jobs per minute of a backlog of ``jobs``, the times of ``jobs // 2`` jobs run alone)."""
    image = photo(side)
    async with opened(bundle, data_dir, workers, jobs, steps) as services:
        await services.queue.start()
        warm = [await submit(services, i, image) for i in range(services.runner.slots)]
        for job_id in warm:  # the first job on each worker warms it
            await finished(services, job_id)
        started = time.perf_counter()
        ids = [await submit(services, i, image) for i in range(jobs)]  # the backlog, a few ms each
        for job_id in tqdm(ids, desc=label(workers), unit="job", leave=False, file=sys.stderr):
            await finished(services, job_id)
        rate = jobs / (time.perf_counter() - started) * 60
        alone = [await finished(services, await submit(services, i, image)) for i in range(jobs // 2)]
    return rate, alone


def label(workers: dict[str, Any]) -> str:
    if workers.get("workers") != "ray":
        return "local thread worker"
    n = workers["ray_workers"]
    return f"Ray, {n} worker{'s' if n != 1 else ''}"


async def run(jobs: int, steps: int, side: int) -> None:
    torch.set_num_threads(1)  # the local worker gets the one thread each Ray worker gets
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, configure_logging=False)
    configs: list[dict[str, Any]] = [
        {"workers": "local"},
        *(
            {"workers": "ray", "ray_workers": n, "ray_gpus_per_worker": 0, "ray_cpus_per_worker": 1}
            for n in (1, 2)
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="likeness-cluster-bench-") as tmp:
        bundle = build_tiny_bundle(Path(tmp) / "tiny")
        throughput: dict[str, float] = {}
        alone: dict[str, list[float]] = {}
        for n, workers in enumerate(configs):
            name = label(workers)
            throughput[name], alone[name] = await measure(
                bundle, Path(tmp) / f"run-{n}", workers, jobs, steps, side
            )
    ray.shutdown()

    base = throughput["Ray, 1 worker"]
    print(f"| where jobs run | jobs/min | vs 1 Ray worker | {jobs} jobs from {USERS} users |")
    print("| --- | ---: | ---: | --- |")
    for name, rate in throughput.items():
        verdict = ""
        if name == "Ray, 2 workers":
            verdict = "PASS" if rate / base >= SPEEDUP_TARGET else "FAIL"
            verdict += f" (≥ {SPEEDUP_TARGET}x)"
        print(f"| {name} | {rate:.1f} | {rate / base:.2f}x | {verdict} |")

    local, remote = (statistics.median(alone[k]) * 1000 for k in ("local thread worker", "Ray, 1 worker"))
    added = remote - local
    verdict = "PASS" if added <= OVERHEAD_TARGET_MS else "FAIL"
    print("\n| one job alone | median ms (claimed to stored) |")
    print("| --- | ---: |")
    print(f"| local thread worker | {local:.1f} |")
    print(f"| Ray, 1 worker | {remote:.1f} |")
    print(f"| Ray adds per job | {added:+.1f} ({verdict}, ≤ {OVERHEAD_TARGET_MS:.0f} ms) |")
    print(
        f"\n_img2img, {side}x{side} px, {steps} steps, tiny bundle; one torch thread per worker; "
        f"{jobs // 2} single jobs for the overhead, after a warm-up job per worker; "
        f"Python {sys.version.split()[0]}, Ray {ray.__version__}._"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=24, help="jobs per throughput run")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps per job")
    parser.add_argument("--side", type=int, default=128, help="image side in pixels")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.jobs, args.steps, args.side))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
