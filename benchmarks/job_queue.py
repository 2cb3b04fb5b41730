"""Queue benchmark: 1,000 jobs from 100 users through create_job → claim_next → mark_done.

Measures the per-job cost of scheduling + persistence on a temporary database (WAL,
synchronous=NORMAL) with a real, fsync'd tiny output file per job, and checks that the fair
order held. Run from the repository root::

    python benchmarks/job_queue.py [--jobs 1000] [--users 100] [--unique-outputs] [--no-fsync]

By default every job's output is the same 1-byte image, so after the first job the file already
exists: that measures scheduling + row persistence. ``--unique-outputs`` makes every job write a
new (fsync'd unless ``--no-fsync``) file, which is then mostly the disk's fsync latency.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# Run as a script, this folder is sys.path[0] and this file would shadow the stdlib ``queue``
# (which asyncio and aiosqlite import), so drop it and put the repository root first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from bot.params import PARAMS_CODEC, JobParams  # noqa: E402
from storage import Database, JobRepository, JobStatus, MediaStore, NewJob, OutputData  # noqa: E402


def new_job(user_id: int) -> NewJob[JobParams]:
    return NewJob(
        user_id=user_id,
        params=JobParams(prompt="benchmark prompt", steps=30, cfg=7.0, seed=1),
        channel_id=1,
        application_id=1,
        interaction_token="token",
        token_expires_at=time.time() + 900,
    )


def arrivals(jobs: int, users: int, rng: random.Random) -> list[int]:
    """Skewed, interleaved submissions: a few heavy users, many light ones, everyone at least once."""
    weights = [1 / (rank + 1) for rank in range(users)]
    order = list(range(1, users + 1)) + rng.choices(range(1, users + 1), weights, k=jobs - users)
    rng.shuffle(order)
    return order


def summarize(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    p95 = statistics.quantiles(ms, n=20)[-1]
    return f"{name:<24}{sum(ms):>10.1f}{statistics.fmean(ms):>10.3f}{statistics.median(ms):>9.3f}{p95:>9.3f}"


async def run(jobs: int, users: int, durable: bool, unique: bool, seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="likeness-bench-") as tmp:
        db = await Database.open(Path(tmp) / "bench.sqlite3")
        media = MediaStore(Path(tmp) / "media", durable=durable)
        repo = JobRepository(db, media, params=PARAMS_CODEC)
        create_t: list[float] = []
        claim_t: list[float] = []
        done_t: list[float] = []

        for user in arrivals(jobs, users, rng):
            start = time.perf_counter()
            await repo.create_job(new_job(user), None, None, per_user_limit=jobs, total_limit=jobs)
            create_t.append(time.perf_counter() - start)

        start = time.perf_counter()
        predicted = [e.job_id for e in await repo.fair_order() if e.status is JobStatus.QUEUED]
        fair_order_ms = (time.perf_counter() - start) * 1000
        waiting = Counter(e.user_id for e in await repo.fair_order())

        claimed: list[int] = []
        streak, worst_streak, previous = 0, 0, None
        while True:
            start = time.perf_counter()
            job = await repo.claim_next()
            claim_t.append(time.perf_counter() - start)
            if job is None:
                claim_t.pop()
                break
            others_waiting = sum(waiting.values()) - waiting[job.user_id] > 0
            streak = streak + 1 if job.user_id == previous else 1
            if others_waiting:
                worst_streak = max(worst_streak, streak)
            previous = job.user_id
            waiting[job.user_id] -= 1
            claimed.append(job.id)
            output = job.id.to_bytes(4, "big") if unique else b"\x00"
            start = time.perf_counter()
            await repo.mark_done(job.id, [OutputData(output, job.params.seed or 0, 1, 1)], 0.0)
            done_t.append(time.perf_counter() - start)

        start = time.perf_counter()
        for _ in range(200):
            media.put(rng.randbytes(4), "png")
        file_ms = (time.perf_counter() - start) * 1000 / 200
        await db.close()

    total = [a + b + c for a, b, c in zip(create_t, claim_t, done_t, strict=True)]
    fsync = "on" if durable else "off"
    outputs = "a new 4-byte file per job" if unique else "the same 1-byte file (written once)"
    print(f"{jobs} jobs from {users} users; output: {outputs}; media fsync {fsync}; WAL synchronous=NORMAL")
    print(f"{'operation':<24}{'total ms':>10}{'ms/job':>10}{'p50':>9}{'p95':>9}")
    for name, samples in (
        ("create_job", create_t),
        ("claim_next", claim_t),
        ("mark_done (1 file)", done_t),
        ("total", total),
    ):
        print(summarize(name, samples))
    print(f"{'(MediaStore.put alone)':<24}{'':>10}{file_ms:>10.3f}   new 4-byte file, fsync {fsync}")
    print(f"fair_order() over {jobs} queued jobs: {fair_order_ms:.1f} ms")
    print(
        f"fairness: max consecutive jobs by one user while another user waited: {worst_streak} "
        f"({'ok' if worst_streak <= 1 else 'VIOLATED'})"
    )
    print(f"fair_order() prediction == actual claim order: {'yes' if predicted == claimed else 'NO'}")
    target = statistics.fmean(total) * 1000
    verdict = "met" if target < 2 else "missed"
    print(f"per-job scheduling+persistence: {target:.3f} ms (target < 2 ms: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--unique-outputs", action="store_true", help="every job writes a new file")
    parser.add_argument("--no-fsync", action="store_true", help="skip fsync of media files")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.jobs, args.users, not args.no_fsync, args.unique_outputs, args.seed))


if __name__ == "__main__":
    main()
