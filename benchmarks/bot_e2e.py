"""End to end through the local fake Discord on the tiny model: the bot's own cost per job.

For each job: the time from the slash command's dispatch to the result message arriving, minus
the engine's own time for that job (``jobs.engine_seconds``). What remains is the bot: deferral,
attachment download and checks, SQLite, media files, queue hand-off, progress and the upload.
Target: median ≤ 50 ms. Run: ``python benchmarks/bot_e2e.py [--jobs 20] [--steps 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.app.client import LikenessBot  # noqa: E402
from bot.app.services import Services  # noqa: E402
from bot.app.settings import load_settings  # noqa: E402
from bot.tiny import build_tiny_bundle  # noqa: E402
from tests.bot.engine.helpers import gradient_image, png_bytes  # noqa: E402
from tests.fakediscord import FakeDiscord  # noqa: E402

log = logging.getLogger("bench")


async def measure(jobs: int, steps: int, workdir: Path) -> list[tuple[float, float]]:
    bundle = build_tiny_bundle(workdir / "tiny")
    settings = load_settings(
        bundle.env_file,
        discord_token="fake-bot-token",
        data_dir=workdir / "data",
        default_steps=steps,
        queue_per_user=jobs + 1,
        queue_total=jobs + 1,
    )
    fake = FakeDiscord()
    await fake.start()
    fake.install()
    services = await Services.open(settings)
    await services.load_models()
    bot = LikenessBot(services, guild_ready_timeout=0.02)  # composed as bot.cli.run.serve composes it
    task = asyncio.create_task(bot.serve())
    try:
        while not bot.is_ready():
            await asyncio.sleep(0.02)
        source = fake.add_attachment(png_bytes(gradient_image(64, 64)), "src.png", "image/png")
        rows: list[tuple[float, float]] = []
        for n in range(jobs + 1):  # the first job warms up caches and is dropped
            started = time.perf_counter()
            inter = await fake.slash(
                None, "generate", {"prompt": f"bench {n}", "image": source, "strength": 0.5, "seed": n}
            )
            await inter.wait_final(lambda m: bool(m.files), timeout=120)
            total = time.perf_counter() - started
            job = (await bot.services.jobs.user_jobs(fake.user.id, limit=1))[0]
            if n:
                rows.append((total, job.engine_seconds or 0.0))
        return rows
    finally:
        await bot.close()
        await asyncio.gather(task, return_exceptions=True)
        await services.close()
        fake.uninstall()
        await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(measure(args.jobs, args.steps, Path(tmp)))
    overhead = [(total - engine) * 1000 for total, engine in rows]
    engine_ms = [engine * 1000 for _, engine in rows]
    total_ms = [total * 1000 for total, _ in rows]
    median = statistics.median(overhead)
    print("| measure (ms per job) | median | p90 | max |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in (
        ("end to end", total_ms),
        ("engine", engine_ms),
        ("bot beyond the engine", overhead),
    ):
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        print(f"| {name} | {statistics.median(values):.1f} | {p90:.1f} | {max(values):.1f} |")
    verdict = "PASS" if median <= 50 else "FAIL"
    print(f"\nbot overhead median {median:.1f} ms (target ≤ 50 ms): {verdict}")
    print(
        f"{args.jobs} img2img jobs, 64 px, {args.steps} steps, tiny bundle; "
        f"{platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
