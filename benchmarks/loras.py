"""LoRA benchmark: what a LoRA costs to load, to switch to once cached, and per job.

Prints Markdown tables (stdout):

1. activation, timed around ``ActiveLoras.activate`` itself (what a job's plan calls): the first use of
   each LoRA (a cold load from disk into the pipelines) against switching between LoRAs already
   loaded, and turning them off;
2. a whole job with no LoRA, one and two (PEFT adds a low-rank product to every adapted layer).

Run from the repository root::

    python benchmarks/loras.py [--env-file PATH] [--steps N] [--repeats N]

Without ``--env-file`` it builds the tiny bundle (its two LoRAs: ``ink``, kohya; ``glow``, diffusers);
``tiny-models DIR --scale full`` gives real-size random weights with LoRAs of the same shapes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import logging
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

import torch

from bot.app.settings import load_settings
from bot.engine.engine import Engine
from bot.jobs import GenerationRequest
from bot.params import JobParams, LoraUse

log = logging.getLogger("benchmarks.loras")
INK, GLOW = LoraUse("ink", 0.8), LoraUse("glow", 0.6)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, help="settings file (default: build the tiny bundle)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per job (default 4)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads on the CPU; 0 = torch's choice")
    return parser.parse_args(argv)


def timed(action: Callable[[], object], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def ms(samples: Sequence[float]) -> str:
    return f"{1000 * statistics.median(samples):.1f}"


def activation_table(engine: Engine, repeats: int) -> str:
    pipes, active = engine.pipes, engine.active_loras

    def activate(*uses: LoraUse) -> Callable[[], object]:
        return lambda: active.activate(pipes.text, uses, pipes.family, pipes.cross_width)

    cold = {lora.name: timed(activate(lora), 1) for lora in (INK, GLOW)}  # first use: read from disk
    assert active.loads == 2
    rows = [
        ("first use of ink (kohya): load from disk", ms(cold["ink"]), "1"),
        ("first use of glow (diffusers): load from disk", ms(cold["glow"]), "1"),
    ]
    switches = [timed(activate(lora), 1)[0] for _ in range(repeats) for lora in (INK, GLOW)]
    rows.append(("switch between the two, both cached", ms(switches), str(len(switches))))
    rows.append(("both at once, cached", ms(timed(activate(INK, GLOW), repeats)), str(repeats)))
    offs = []
    for _ in range(repeats):
        activate(INK)()
        offs += timed(activate(), 1)
    rows.append(("turn LoRAs off (a job without any)", ms(offs), str(repeats)))
    assert active.loads == 2, "switching read a file again"
    lines = ["| activation | median ms | runs |", "| --- | ---: | ---: |"]
    lines += [f"| {what} | {value} | {runs} |" for what, value, runs in rows]
    return "\n".join(lines)


def job_table(engine: Engine, steps: int, repeats: int) -> str:
    def job(*uses: LoraUse) -> Callable[[], object]:
        params = JobParams("a lighthouse at dusk", steps=steps, seed=7, loras=uses)
        return lambda: engine.generate(GenerationRequest(params))

    cases = (("no LoRA", ()), ("one LoRA", (INK,)), ("two LoRAs", (INK, GLOW)))
    for _, uses in cases:
        job(*uses)()  # untimed: loads and warms up
    samples: dict[str, list[float]] = {label: [] for label, _ in cases}
    for round_ in range(repeats):  # interleaved, the order turning each round: drift hits all alike
        for label, uses in cases[round_ % 3 :] + cases[: round_ % 3]:
            samples[label] += timed(job(*uses), 1)
    rows = [(label, samples[label]) for label, _ in cases]
    base = statistics.median(rows[0][1])
    lines = ["| text job | median s | vs no LoRA |", "| --- | ---: | ---: |"]
    lines += [
        f"| {label} | {statistics.median(s):.3f} | {statistics.median(s) / base:.3f}× |" for label, s in rows
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="likeness-loras-") as tmp:
        env_file = args.env_file
        if env_file is None:
            from bot.tiny import build_tiny_bundle

            env_file = build_tiny_bundle(Path(tmp) / "tiny").env_file
        settings = load_settings(env_file)
        engine = Engine.load(settings.engine_config)
        native = engine.native
        print("### LoRA activation\n\n" + activation_table(engine, args.repeats))
        print(f"\n### Job time with LoRAs ({native}×{native}, {args.steps} steps)\n")
        print(job_table(engine, args.steps, args.repeats))
    unet = sum(p.numel() for p in engine.pipes.text.unet.parameters()) / 1e6
    print(
        f"\nMachine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; model {engine.pipes.family.label}, UNet {unet:.0f} M parameters "
        f"(random weights), LoRAs rank 4 on every attention projection and text-encoder layer."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
