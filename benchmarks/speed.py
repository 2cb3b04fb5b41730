# ruff: noqa: E402  (sys.path is fixed before the imports; see benchmarks/engine.py)
"""Speed modes side by side: seconds per image in ``quality``, ``fast`` and ``turbo``, Likeness against
the same pipeline called bare (inputs prepared by the engine, only the diffusers call timed).

Prints a Markdown table (paste into docs/benchmarks.md), or one JSON object per row (``--json``, what
``benchmarks/gpu.sh`` collects):

    python benchmarks/speed.py [--env-file PATH] [--size PX] [--quality-steps N] [--speeds LIST]
        [--no-bare] [--set KEY=VALUE ...] [--threads N] [--json] [--label TEXT]

Without ``--env-file`` it builds SD 1.5's real architecture with random weights (speed and memory do
not depend on the weights; about 4 GB in float32) and a random rank-64 acceleration LoRA in
LCM-LoRA's layout over every attention, feed-forward and time-embedding projection, and runs at
512 px. With one it runs whatever that file configures (real weights on a GPU, or the tiny bundle for
a dry run). ``--set`` overrides a setting by its field name (``--set step_cache=1``); a name this
build's settings do not have stops the run, so a row is never labelled with a setting that did not
apply. Every timed path runs once untimed first (one step); load time is excluded.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import gc
import json
import logging
import os
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch

from benchmarks.engine import bare_job, cpu_name, load_average, markdown
from bot.app.settings import Settings, load_settings
from bot.choices import SPEEDS
from bot.engine.engine import Engine
from bot.jobs import GenerationRequest
from bot.params import JobParams, Mode

PROMPT = "a portrait photo of a woman in a red wool coat, soft window light, 85mm"
NEGATIVE = "blurry, low quality"
SEED = 1234
MB = 2**20
TARGETS = {"fast": 3.0, "turbo": 5.0}  # issue 25: times faster than quality, SD 1.5 at 512 px


@dataclass(frozen=True)
class Row:
    label: str
    speed: str
    steps: int
    cfg: float
    sampler: str
    unet_evals: int
    seconds: float
    its: float  # denoising steps per second, from the first to the last step's callback
    bare_seconds: float | None
    bare_its: float | None
    peak_mb: int
    peak_kind: str  # "VRAM" (CUDA's allocator peak) or "RSS" (the process's peak resident memory)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-file", type=Path, help="settings to run; default: SD 1.5 real size, random")
    parser.add_argument("--size", type=int, help="image side in px; default: the model's native size")
    parser.add_argument("--quality-steps", type=int, default=30, help="quality's steps (the bot's default)")
    parser.add_argument("--speeds", default=",".join(SPEEDS), help="comma list of speeds to run")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare diffusers calls")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--json", action="store_true", help="one JSON object per row instead of a table")
    parser.add_argument("--label", default="likeness", help="the rows' label (gpu.sh names its configs)")
    return parser.parse_args(argv)


def overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs as settings overrides; a key this build does not have stops the run."""
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in Settings.model_fields:
            raise SystemExit(f"--set {pair}: {key!r} is not a setting of this build (LIKENESS_{key.upper()})")
        found[key] = value
    return found


def build_real_sd15(root: Path) -> Path:
    """SD 1.5's real architecture with random weights and a rank-64 LCM-layout LoRA, as an env file."""
    from bot.tiny import full
    from bot.tiny.speed_loras import save_speed_loras, speed_settings

    torch.manual_seed(0)
    pipe = full.build_full_sd15()
    pipe.save_pretrained(root / "sd15", safe_serialization=True)
    save_speed_loras(pipe, root, rank=64)
    del pipe
    gc.collect()
    off = ("IP_ADAPTER", "FACEID_ADAPTER", "CONTROLNET_CANNY", "CONTROLNET_DEPTH", "DEPTH_MODEL")
    settings = {
        "LIKENESS_MODEL": str(root / "sd15"),
        "LIKENESS_DEVICE": "cpu",
        "LIKENESS_CAPTION_MODEL": "none",
        "LIKENESS_NSFW_MODEL": "none",
        **{f"LIKENESS_{name}": "none" for name in off},
        "LIKENESS_SPEED_SD15": speed_settings(root)["LIKENESS_SPEED_SD15"],
    }
    env = root / "speed.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
    return env


class StepClock:
    """When each denoising step ended: steps per second over the steps after the first."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, *args: Any) -> Any:
        self.times.append(time.perf_counter())
        return args[-1] if len(args) == 4 else None  # diffusers' callback wants its tensors back

    def its(self) -> float:
        if len(self.times) < 2:
            return float("nan")
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


def peak_reset(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) // MB, "VRAM"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, "RSS"


def request(speed: str, steps: int | None) -> GenerationRequest:
    """A new image at the model's native size (``--size`` sets LIKENESS_RESOLUTION)."""
    params = JobParams(prompt=PROMPT, negative=NEGATIVE, seed=SEED, speed=speed, steps=steps, mode=Mode.TEXT)
    return GenerationRequest(params=params)


def timed(job: Callable[[], Any]) -> float:
    gc.collect()
    started = time.perf_counter()
    job()
    return time.perf_counter() - started


def measure(engine: Engine, speed: str, args: argparse.Namespace) -> Row:
    steps = args.quality_steps if speed == "quality" else None
    job = request(speed, steps)
    engine.generate(replace(job, params=replace(job.params, steps=1)))  # warm-up: loads the LoRA
    clock = StepClock()
    device = engine.pipes.device
    peak_reset(device)
    seconds = timed(lambda: engine.generate(job, progress=lambda done, total: clock()))
    peak_mb, kind = peak(device)
    plan = engine.plan(job)
    params = plan.params
    assert params.steps is not None and params.cfg is not None and params.sampler is not None
    bare_seconds = bare_its = None
    if not args.no_bare:
        call = bare_job(engine, job)
        bare_clock = StepClock()
        original = plan.pipe.__class__.__call__

        def clocked(pipe: Any, *a: Any, **kw: Any) -> Any:
            return original(pipe, *a, **{**kw, "callback_on_step_end": bare_clock})

        plan.pipe.__class__.__call__ = clocked  # the bare call, with a step clock only
        try:
            bare_seconds = timed(call)
        finally:
            plan.pipe.__class__.__call__ = original
        bare_its = bare_clock.its()
    evals = params.steps * (2 if params.cfg > 1 else 1)
    return Row(
        args.label,
        speed,
        params.steps,
        params.cfg,
        f"{params.sampler} {params.schedule}",
        evals,
        seconds,
        clock.its(),
        bare_seconds,
        bare_its,
        peak_mb,
        kind,
    )


def table(rows: Sequence[Row]) -> str:
    quality = next((r.seconds for r in rows if r.speed == "quality"), None)

    def faster(row: Row) -> str:
        if quality is None or row.speed == "quality":
            return "1×" if row.speed == "quality" else "–"
        ratio = quality / row.seconds
        target = TARGETS.get(row.speed)
        verdict = "" if target is None else (" ✓" if ratio >= target else f" ✗ (target ≥ {target:g}×)")
        return f"{ratio:.1f}×{verdict}"

    def overhead(row: Row) -> str:
        return "–" if row.bare_seconds is None else f"{row.seconds / row.bare_seconds:.3f}"

    headers = [
        "speed",
        "steps",
        "CFG",
        "sampler",
        "UNet evals",
        "Likeness s/image",
        "it/s",
        "bare diffusers s/image",
        "Likeness / bare",
        "faster than quality",
        "peak MB",
    ]
    body = [
        [
            r.speed,
            str(r.steps),
            f"{r.cfg:g}",
            r.sampler,
            str(r.unet_evals),
            f"{r.seconds:.2f}",
            f"{r.its:.2f}",
            "–" if r.bare_seconds is None else f"{r.bare_seconds:.2f}",
            overhead(r),
            faster(r),
            f"{r.peak_mb} ({r.peak_kind})",
        ]
        for r in rows
    ]
    return markdown(headers, body)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    speeds = [s.strip() for s in args.speeds.split(",") if s.strip()]
    unknown = sorted(set(speeds) - set(SPEEDS))
    if unknown:
        raise SystemExit(f"--speeds: unknown {', '.join(unknown)}; choose from {', '.join(SPEEDS)}")
    given = overrides(args.set)
    if args.size:
        given["resolution"] = str(args.size)
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="likeness-speed-") as tmp:
        env = args.env_file or build_real_sd15(Path(tmp))
        settings = load_settings(env, **given)
        started = time.perf_counter()
        engine = Engine.load(settings.engine_config)
        loaded = time.perf_counter() - started
        rows = [measure(engine, speed, args) for speed in speeds]
    if args.json:
        for row in rows:
            print(json.dumps(asdict(row)), flush=True)
        return 0
    pipes = engine.pipes
    print(table(rows))
    print()
    print(
        f"Machine: {pipes.device.type} {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
        f"threads; torch {torch.__version__}; {pipes.family.label} at {engine.native} px, "
        f"{str(pipes.dtype).removeprefix('torch.')}; one run each after a one-step warm-up; load "
        f"{loaded:.0f} s excluded; 1-min load average {load} before, {load_average()} after."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
