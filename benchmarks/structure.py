# ruff: noqa: E402  (sys.path is fixed before the imports; see benchmarks/engine.py)
"""/describe and structure control: what they cost. Prints Markdown tables (paste into docs).

1. describe: the caption model's load, then the time per image of the four prompts (standard and
   detailed), through the real Florence-2 loader and the engine's own ``suggestions``;
2. structure: a job without structure against the same job with canny and with depth, per mode,
   as total time, the map's own time, and the cost per denoising step over none.

    python benchmarks/structure.py [--family sd15|sdxl] [--scale tiny|full] [--steps N] [--repeats N]

It builds the random-weight bundle of the family in a temporary folder (``--scale full``: the real
architectures' shapes, so the timings are a real model's on this machine; random Florence-2 weights
rarely stop early, so its times are the token limits' worst case). torch runs on ``--threads``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import logging
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
from tqdm import tqdm

from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.engine.family import Family
from bot.params import Mode
from bot.tiny import build_tiny_bundle
from tests.bot.engine.helpers import gradient_image, job_request, save


def timed(run: Callable[[], object], repeats: int) -> float:
    """The median of ``repeats`` runs, after one untimed warm-up."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def describe_table(engine: Engine, photo: Path, repeats: int) -> list[str]:
    assert engine.captioner is not None
    started = time.perf_counter()
    engine.captioner.load()
    load = time.perf_counter() - started
    rows = ["| describe | seconds |", "|---|---:|", f"| caption model load (once) | {load:.2f} |"]
    for detail in (False, True):
        seconds = timed(lambda d=detail: engine.suggestions(photo, detailed=d), repeats)
        rows.append(f"| four prompts, {'detailed' if detail else 'standard'} | {seconds:.2f} |")
    return rows


def structure_table(engine: Engine, photo: Path, steps: int, repeats: int) -> list[str]:
    rows = [
        "| mode | structure | job s | map s | per step over none, ms |",
        "|---|---|---:|---:|---:|",
    ]
    jobs = [(mode, kind) for mode in (Mode.TEXT, Mode.IMG2IMG) for kind in (None, "canny", "depth")]
    baseline: dict[Mode, float] = {}
    control = engine.structure
    assert control is not None
    for mode, kind in tqdm(jobs, desc="structure", unit="job", file=sys.stderr):
        options: dict[str, object] = {"prompt": "a lighthouse", "mode": mode, "steps": steps, "seed": 1}
        if mode is not Mode.TEXT or kind is not None:
            options["image"] = photo
        if kind is not None:
            options["structure"] = kind
        if mode is Mode.TEXT and kind is None:
            options["aspect"] = "3:2"  # the photo's shape, as a structure job takes it
        if mode is Mode.IMG2IMG:
            options["strength"] = 1.0  # every step runs, as in text mode
        request = job_request(**options)
        seconds = timed(lambda r=request: engine.generate(r), repeats)
        if kind is None:
            baseline[mode] = seconds
            rows.append(f"| {mode} | none | {seconds:.2f} | | |")
            continue
        source = gradient_image(*engine.plan(request).size)
        map_seconds = timed(lambda k=kind, s=source: control.condition(k, s), repeats)
        per_step = (seconds - baseline[mode] - map_seconds) / steps * 1000
        rows.append(f"| {mode} | {kind} | {seconds:.2f} | {map_seconds:.3f} | {per_step:.1f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=[f.value for f in Family], default="sd15")
    parser.add_argument("--scale", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="likeness-structure-bench-") as tmp:
        root = Path(tmp)
        bundle = build_tiny_bundle(root / "bundle", family=Family(args.family), scale=args.scale)
        engine = Engine.load(load_settings(bundle.env_file).engine_config)
        side = engine.native
        photo = save(gradient_image(side * 3 // 2, side), root / "photo.png")
        print(
            f"{args.scale} {bundle.family.label}, native {side} px, {args.steps} steps, median of "
            f"{args.repeats}, torch {torch.__version__} on {args.threads} thread(s), "
            f"{platform.processor() or 'cpu'}\n"
        )
        print("\n".join(describe_table(engine, photo, args.repeats)) + "\n")
        print("\n".join(structure_table(engine, photo, args.steps, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
