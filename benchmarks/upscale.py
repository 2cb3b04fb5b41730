# ruff: noqa: E402  (sys.path is fixed before the imports; see below)
"""Upscale benchmark: time and peak memory of the super-resolution pass, tiled and untiled, and the
cost of the detail pass per tile. Prints Markdown tables. Run from the repository root::

    python benchmarks/upscale.py [--blocks 23] [--sizes 512 1024] [--detail-tiles 2]

1. super-resolution: Real-ESRGAN x4plus's architecture (RRDBNet, 64 features, ``--blocks`` blocks,
   growth 32) with random weights, written as a ``.pth`` and read through spandrel as the bot reads
   the real file; each size is upscaled 2× (the model's 4× then a Lanczos resize), tiled
   (``bot.engine.upscaler.TILE``) and untiled, each case in its own process so its peak resident
   memory is its own;
2. detail: the detail pass's img2img on native-size tiles of the tiny bundle (``--full``: real-size
   SD 1.5 weights), seconds per tile.

The aim: with tiling, peak memory nearly flat in the image size; the table gives the ratio of the
largest size's peak to the smallest's.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import json
import resource
import subprocess
import tempfile
import time

import torch

FEATURES, GROWTH = 64, 32  # Real-ESRGAN x4plus


def real_size_state(blocks: int) -> dict[str, torch.Tensor]:
    """RealESRGAN_x4plus's keys and shapes, random weights (``blocks`` of its 23 dense blocks)."""
    generator = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}

    def conv(name: str, out: int, inp: int) -> None:
        state[f"{name}.weight"] = torch.randn(out, inp, 3, 3, generator=generator) * (1 / (inp * 9)) ** 0.5
        state[f"{name}.bias"] = torch.zeros(out)

    conv("conv_first", FEATURES, 3)
    for block in range(blocks):
        for rdb in (1, 2, 3):
            for k in range(1, 6):
                conv(
                    f"body.{block}.rdb{rdb}.conv{k}",
                    FEATURES if k == 5 else GROWTH,
                    FEATURES + (k - 1) * GROWTH,
                )
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        conv(name, FEATURES, FEATURES)
    conv("conv_last", 3, FEATURES)
    return state


def one_case(model: str, side: int, tiled: bool) -> dict[str, float]:
    """Run in a child process: one 2× upscale of a ``side`` px picture; its seconds and peak RSS."""
    import numpy as np
    from PIL import Image

    from bot.engine.upscaler import TILE, Upscaler

    upscaler = Upscaler(model)
    upscaler.load()
    rng = np.random.default_rng(0)
    picture = Image.fromarray((rng.random((side, side, 3)) * 255).astype(np.uint8), "RGB")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    upscaler.upscale(picture, 2, tile=TILE if tiled else 0)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"seconds": seconds, "peak_mb": peak / 1024, "model_mb": before / 1024}


def super_resolution(blocks: int, sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "RealESRGAN_x4plus-random.pth"
        torch.save({"params_ema": real_size_state(blocks)}, model)
        print(f"\n### Super-resolution, 2× (RRDBNet {FEATURES} features, {blocks} blocks, random weights)\n")
        print("| input | output | tiled | seconds | peak resident MB |")
        print("| --- | --- | --- | ---: | ---: |")
        peaks: dict[bool, list[float]] = {True: [], False: []}
        for side in sizes:
            for tiled in (True, False):
                code = (
                    "import json, sys; sys.path.insert(0, sys.argv[1]); "
                    "from benchmarks.upscale import one_case; "
                    "print(json.dumps(one_case(sys.argv[2], int(sys.argv[3]), sys.argv[4] == '1')))"
                )
                args = [str(_HERE.parent), str(model), str(side), "1" if tiled else "0"]
                run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
                if run.returncode != 0:
                    tail = (run.stderr.strip().splitlines() or ["?"])[-1]
                    print(f"| {side}² | {2 * side}² | {'yes' if tiled else 'no'} | failed: {tail} | |")
                    continue
                result = json.loads(run.stdout.strip().splitlines()[-1])
                peaks[tiled].append(result["peak_mb"])
                print(
                    f"| {side}² | {2 * side}² | {'yes' if tiled else 'no'} | {result['seconds']:.1f} "
                    f"| {result['peak_mb']:.0f} |"
                )
        for tiled, values in peaks.items():
            if len(values) >= 2:
                label = "tiled" if tiled else "untiled"
                print(
                    f"\nPeak memory, {label}: {values[-1] / values[0]:.2f}× from {sizes[0]}² to {sizes[-1]}²"
                )


def detail(tiles: int, full: bool) -> None:
    from bot.app.settings import load_settings
    from bot.engine.engine import Engine, _Tally
    from bot.engine.images import load_image
    from bot.jobs import GenerationRequest
    from bot.params import JobParams, Mode, resolve
    from bot.tiny import build_tiny_bundle
    from tests.bot.engine.helpers import gradient_image, save

    with tempfile.TemporaryDirectory() as folder:
        bundle = build_tiny_bundle(Path(folder) / "bundle", scale="full" if full else "tiny")
        engine = Engine.load(load_settings(bundle.env_file).engine_config)
        native = engine.native
        source = save(gradient_image(native, native), Path(folder) / "tile.png")
        params = resolve(
            JobParams(prompt="a lighthouse", mode=Mode.IMG2IMG, upscale=2.0, strength=0.3, steps=10, seed=1)
        )
        plan = engine.plan(GenerationRequest(params, source))
        tile = load_image(source)
        times = []
        for _ in range(tiles + 1):  # the first warms up
            plan.inputs = {"image": tile, "strength": params.strength}
            started = time.perf_counter()
            engine._denoise(plan, [1], _Tally(), None, None)
            times.append(time.perf_counter() - started)
        per_tile = sum(times[1:]) / tiles
        scale = "real-size SD 1.5" if full else "tiny"
        print(f"\n### Detail pass ({scale} weights, {native} px tiles, 10 steps at strength 0.3)\n")
        print("| tiles timed | seconds per tile | tiles for 1024² → 2048² at 512 px, ¼ overlap |")
        print("| ---: | ---: | ---: |")
        print(f"| {tiles} | {per_tile:.2f} | 25 |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=23, help="RRDB blocks (23: Real-ESRGAN x4plus)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], help="input sides, in pixels")
    parser.add_argument("--detail-tiles", type=int, default=2, help="detail tiles to time (0: none)")
    parser.add_argument("--full", action="store_true", help="the detail pass on real-size SD 1.5 weights")
    args = parser.parse_args(argv)
    super_resolution(args.blocks, args.sizes)
    if args.detail_tiles:
        detail(args.detail_tiles, args.full)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
