# ruff: noqa: E402  (sys.path is fixed before the imports; see benchmarks/engine.py)
"""Step caching and fitting the card, at real size with random weights. Prints Markdown tables.

1. cache: ``LIKENESS_STEP_CACHE`` off, light, medium and strong, SD 1.5 at 512 px, the same job at
   the same steps: seconds per image, the speed-up over off (target ≥ 1.5×) and the largest pixel
   change against off (the price, for users to know; with random weights it is the upper end,
   since a trained UNet's deep features change less from step to step than random ones);
2. memory: the card's peak, ``LIKENESS_VRAM=high`` against ``low``, SDXL with an IP-Adapter (its
   OpenCLIP ViT-bigG image encoder, as h94's ``sdxl_models`` ships it), at start and per mode (target:
   low ≤ 60 % of high). Counted on the CPU as ``benchmarks/device_memory.py`` explains, each
   setting in a fresh process.

    python benchmarks/accel.py [--only cache,memory] [--steps N] [--memory-size PX]
        [--memory-modes "text,image prompt"] [--workdir DIR]

Builds the real architectures (``bot.tiny.full``) with random weights in ``--workdir`` (kept, so a
second run loads them again): SD 1.5 in float32 (4 GB), SDXL with the adapter in bfloat16 (11 GB),
the dtype the engine allows on a CPU that halves the memory. Both run on the real loading path,
``Engine.load``; slow on a CPU (minutes per SDXL step at 1024 px): run it niced, once.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import gc
import io
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
from typing import Any

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np
import torch
from PIL import Image

from bot.engine.acceleration import Acceleration, StepCache, Vram
from bot.engine.config import AdapterSource, EngineConfig
from bot.engine.engine import Engine
from bot.jobs import GenerationRequest
from bot.params import JobParams, Mode

log = logging.getLogger("benchmarks.accel")

PROMPT = "a portrait photo of a woman in a red wool coat, soft window light, 85mm"
SEED = 1234
GB = 2**30
CACHE_TARGET = 1.5
MEMORY_TARGET = 0.60


def big_g_encoder() -> Any:
    """OpenCLIP ViT-bigG/14's vision tower: the image encoder of h94's SDXL IP-Adapters (``sdxl_models``)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=1664,
            intermediate_size=8192,
            num_hidden_layers=48,
            num_attention_heads=16,
            image_size=224,
            patch_size=14,
            projection_dim=1280,
            hidden_act="gelu",
        )
    )


def build_sd15(root: Path) -> Path:
    from bot.tiny import full

    folder = root / "sd15"
    if not (folder / "model_index.json").exists():
        torch.manual_seed(0)
        full.build_full_sd15().save_pretrained(folder, safe_serialization=True)
        gc.collect()
    return folder


def build_sdxl_ip(root: Path) -> tuple[Path, AdapterSource]:
    """SDXL and a plain IP-Adapter over it, made directly in bfloat16 (a float32 build would need
    twice the memory for a moment)."""
    from bot.tiny import full
    from bot.tiny.ip_adapter import IP_ADAPTER_SUBFOLDER, IP_ADAPTER_WEIGHT, save_ip_adapter

    folder, adapter = root / "sdxl", root / "sdxl-ip"
    if not (adapter / IP_ADAPTER_SUBFOLDER / IP_ADAPTER_WEIGHT).exists():
        torch.manual_seed(0)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.bfloat16)
        try:
            pipe = full.build_full_sdxl()
            pipe.save_pretrained(folder, safe_serialization=True)
            save_ip_adapter(pipe.unet, adapter, encoder_builder=big_g_encoder)
        finally:
            torch.set_default_dtype(previous)
        del pipe
        gc.collect()
    return folder, AdapterSource(str(adapter), IP_ADAPTER_SUBFOLDER, IP_ADAPTER_WEIGHT)


def gradient_png(side: int) -> bytes:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:side, 0:side]
    rgb = np.stack([x / (side - 1), y / (side - 1), (x + y) / (2 * side)], axis=-1) * 200
    rgb += rng.normal(0, 12, size=rgb.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(buffer, "PNG")
    return buffer.getvalue()


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB")).astype(np.int16)


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --- 1. step cache -------------------------------------------------------------------------------


def cache_table(root: Path, steps: int) -> str:
    folder = build_sd15(root)
    engine = Engine.load(EngineConfig(model=str(folder), device="cpu", name="sd15"))
    request = GenerationRequest(JobParams(PROMPT, steps=steps, seed=SEED))
    engine.generate(GenerationRequest(JobParams(PROMPT, steps=1, seed=SEED)))  # warm: first-call costs
    results: dict[StepCache, tuple[float, np.ndarray]] = {}
    used = ""
    for level in StepCache:
        engine.step_cache = level
        gc.collect()
        started = time.perf_counter()
        result = engine.generate(request)
        results[level] = (time.perf_counter() - started, pixels(result.candidates[0].png))
        used = f"{result.params.sampler}, CFG {result.params.cfg:g}"
        change = np.abs(results[level][1] - results[StepCache.OFF][1]).max()  # off runs first
        log.info("step cache %s: %.1f s, largest pixel change %d", level.value, results[level][0], change)
    off_seconds, off_pixels = results[StepCache.OFF]
    rows = []
    for level, (seconds, image) in results.items():
        full_steps = -(-steps // level.interval)
        change = np.abs(image - off_pixels)
        speedup = off_seconds / seconds
        verdict = "" if level is StepCache.OFF else (" ✓" if speedup >= CACHE_TARGET else " ✗")
        rows.append(
            [
                level.value,
                f"{full_steps} of {steps}",
                f"{seconds:.1f}",
                f"{speedup:.2f}×{verdict}",
                str(int(change.max())),
                f"{change.mean():.1f}",
            ]
        )
    headers = [
        "step cache",
        "whole-UNet steps",
        "s / image",
        "speed-up",
        "largest pixel change",
        "mean change",
    ]
    return f"SD 1.5 at 512 px, {steps} steps, {used}, 1 image\n\n" + markdown(headers, rows)


# --- 2. memory -------------------------------------------------------------------------------------


def memory_child(root: Path, vram: str, size: int, steps: int, modes: list[str]) -> dict[str, float]:
    """One setting in this process: the card's peak at start and per mode, in bytes."""
    from benchmarks.device_memory import DeviceMemory, counting

    folder, adapter = build_sdxl_ip(root)
    config = EngineConfig(
        model=str(folder),
        device="cpu",
        dtype="bfloat16",
        resolution=size,
        ip_adapter=adapter,
        name="sdxl",
        acceleration=Acceleration(vram=Vram(vram)),
    )
    engine = Engine.load(config)
    memory = DeviceMemory(None if vram == "low" else lambda: engine.weight_bytes)
    figures = {"at start": float(memory.weights())}
    image = gradient_png(size)
    jobs = {
        "text": GenerationRequest(JobParams(PROMPT, steps=steps, seed=SEED)),
        "image prompt": GenerationRequest(
            JobParams(PROMPT, steps=steps, seed=SEED, mode=Mode.IMAGE_PROMPT), image
        ),
    }
    with counting(memory):
        for name, request in jobs.items():
            if name not in modes:
                continue
            gc.collect()
            memory.reset()
            started = time.perf_counter()
            engine.generate(request)
            figures[name] = float(memory.peak)
            log.info(
                "%s %s: peak %.2f GB in %.0f s", vram, name, memory.peak / GB, time.perf_counter() - started
            )
    return figures


def memory_table(root: Path, size: int, steps: int, modes: str) -> str:
    figures = {}
    for vram in ("high", "low"):
        command = [sys.executable, __file__, "--child", vram, "--workdir", str(root)]
        command += ["--memory-size", str(size), "--steps", str(steps), "--memory-modes", modes]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)  # its log: ours
        if done.returncode != 0:
            raise SystemExit(f"the {vram} run failed (its log is above)")
        figures[vram] = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    for point in figures["high"]:
        high, low = figures["high"][point], figures["low"][point]
        share = low / high if high else 0.0
        verdict = "" if point == "at start" else (" ✓" if share <= MEMORY_TARGET else " ✗")
        rows.append([point, f"{high / GB:.2f}", f"{low / GB:.2f}", f"{share:.0%}{verdict}"])
    return (
        f"SDXL + IP-Adapter (ViT-bigG image encoder), bfloat16, {size} px, {steps} step(s), 1 image; "
        "the card's peak in GB\n\n" + markdown(["point", "high GB", "low GB", "low / high"], rows)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", default="cache,memory")
    parser.add_argument("--steps", type=int, help="denoising steps (cache: 12; memory: 1, the peak of one)")
    parser.add_argument("--memory-size", type=int, default=1024, help="SDXL side in px for the memory table")
    parser.add_argument(
        "--memory-modes", default="text,image prompt", help="the memory table's jobs: text, image prompt"
    )
    parser.add_argument("--workdir", type=Path, help="where the random-weight models are built (kept)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "diffusers", "transformers", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="likeness-accel-"))
    root.mkdir(parents=True, exist_ok=True)
    if args.child:
        modes = args.memory_modes.split(",")
        print(json.dumps(memory_child(root, args.child, args.memory_size, args.steps or 1, modes)))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or 'cpu'}\n")
    sections = args.only.split(",")
    if "cache" in sections:
        print(cache_table(root, args.steps or 12) + "\n", flush=True)
    if "memory" in sections:
        table = memory_table(root, args.memory_size, args.steps or 1, args.memory_modes)
        print(table + "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
