# ruff: noqa: E402  (sys.path is fixed before the imports; see benchmarks/engine.py)
"""Several checkpoints: what a swap costs, what two loaded models hold, and what the fair queue's
model rounds save. Prints Markdown tables (paste into docs).

1. swap: the first load of each model, then a swap back to one dropped a moment ago (its files in
   the operating system's cache, as on a bot that swaps often), through ``ModelShelf``;
2. memory: the process's resident memory over its start, just loaded and once every weight has
   been read (safetensors maps the files, so a model's pages are resident only once a job has read
   them), and the weights counted by the shelf, with one and with two models loaded
   (``LIKENESS_MODEL_CACHE=2``);
3. the queue: swaps made by the round rule against plain round-robin, for a few user mixes;
4. prompt weighting: the conditioning of a plain, a weighted and a long prompt (with a negative)
   against one denoising step at native size, per family (``--weights-family`` picks; the SDXL
   step at full size takes a minute on a CPU).

    python benchmarks/models.py [--scale tiny|full] [--threads N] [--weights-family sd15|sdxl|both]
        [--only-weighting]

``--scale full`` builds both families' real architectures with random weights (speed and memory do
not depend on the weights): an SD 1.5 (about 4 GB in float32) and an SDXL (about 14 GB), so it needs
some 20 GB of memory and disk; ``tiny`` runs anywhere in seconds. Adapters, ControlNets and the
captioner are off, so a swap is the checkpoint's own cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import asyncio
import gc
import logging
import os
import platform
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
from tqdm import tqdm

from benchmarks.structure import timed
from bot.engine.config import EngineConfig, ModelBudget, ModelsConfig
from bot.engine.family import Family
from bot.engine.prompts import prompt_arguments
from bot.engine.shelf import ModelShelf
from bot.params import PARAMS_CODEC, JobParams
from bot.tiny import full, sd, sdxl
from storage import Database, JobRepository, MediaStore, NewJob

MB = 2**20
NAMES = {Family.SD15: "sd15", Family.SDXL: "sdxl"}


def build(root: Path, scale: str, only: Sequence[str] = ("sd15", "sdxl")) -> ModelsConfig:
    """The families' pipelines (both unless ``only`` says) saved as diffusers folders, named sd15
    and sdxl."""
    builders: dict[Family, Callable[[], Any]] = (
        {Family.SD15: full.build_full_sd15, Family.SDXL: full.build_full_sdxl}
        if scale == "full"
        else {Family.SD15: sd.build_tiny_pipeline, Family.SDXL: sdxl.build_tiny_sdxl_pipeline}
    )
    configs = {}
    chosen = {family: make for family, make in builders.items() if NAMES[family] in only}
    for family, make in tqdm(chosen.items(), desc="building", unit="model", file=sys.stderr):
        torch.manual_seed(0)
        pipe = make()
        pipe.save_pretrained(root / NAMES[family], safe_serialization=True)
        del pipe
        gc.collect()
        name = NAMES[family]
        configs[name] = EngineConfig(model=str(root / name), device="cpu", name=name)
    return ModelsConfig(configs, next(iter(configs)))


def rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def swap_table(models: ModelsConfig) -> list[str]:
    shelf = ModelShelf(models)  # a budget of one: each load drops the other first
    rows = ["| load | model | seconds | weights MB |", "|---|---|---:|---:|"]
    for label, name in (
        ("first", "sd15"),
        ("first (drops sd15)", "sdxl"),
        ("swap back", "sd15"),
        ("swap back", "sdxl"),
    ):
        engine = shelf.engine(name)
        rows.append(f"| {label} | {name} | {shelf.last_load_seconds:.2f} | {engine.weight_bytes // MB} |")
    return rows


def touch(engine: Any) -> None:
    """Read every weight once, as a first job does: safetensors maps the file, so until a tensor is
    read its pages are the file cache's, not the process's."""
    with torch.no_grad():
        for module in engine.pipes.modules.values():
            for tensor in (*module.parameters(), *module.buffers()):
                tensor.sum()


def memory_table(models: ModelsConfig) -> list[str]:
    gc.collect()
    base = rss()
    shelf = ModelShelf(ModelsConfig(models.models, models.default, ModelBudget(count=2)))
    rows = [
        "| loaded | resident MB, loaded | resident MB, every weight read | weights MB |",
        "|---|---:|---:|---:|",
    ]
    for names in (("sd15",), ("sd15", "sdxl")):
        engine = shelf.engine(names[-1])
        gc.collect()
        loaded = rss() - base
        touch(engine)
        held = sum(shelf.engine(n).weight_bytes for n in names)
        rows.append(f"| {' + '.join(names)} | {loaded // MB} | {(rss() - base) // MB} | {held // MB} |")
    return rows


MIXES: dict[str, dict[int, Sequence[str]]] = {
    "3 users, one each, a b a": {1: "aaaa", 2: "bbbb", 3: "aaaa"},
    "3 users, each alternating": {1: "abab", 2: "baba", 3: "abab"},
    "6 users, 2 want b": {1: "aaaa", 2: "aaaa", 3: "bbbb", 4: "aaaa", 5: "bbbb", 6: "aaaa"},
}


async def queue_table(root: Path) -> list[str]:
    rows = ["| users and models | jobs | swaps, round-robin | swaps, rounds |", "|---|---:|---:|---:|"]
    for label, wants in MIXES.items():
        counts = []
        for prefer in (False, True):
            folder = root / f"q-{len(rows)}-{prefer}"
            async with await Database.open(folder / "db.sqlite3") as db:
                repo = JobRepository(db, MediaStore(folder / "media"), params=PARAMS_CODEC)
                for turn in range(max(len(w) for w in wants.values())):
                    for user, models in wants.items():
                        params = JobParams(prompt="x", seed=1, steps=1, cfg=7.0, model=models[turn])
                        await repo.create_job(NewJob(user, params), per_user_limit=99, total_limit=999)
                loaded, swaps, jobs = ["a"], 0, 0
                while (job := await repo.claim_next(loaded if prefer else [], "a")) is not None:
                    model = job.params.model or "a"
                    swaps += model != loaded[0]
                    loaded, jobs = [model], jobs + 1
                counts.append(swaps)
        rows.append(f"| {label} | {jobs} | {counts[0]} | {counts[1]} |")
    return rows


UP = "a (red:1.3) apple on a ((wooden)) table, soft light"  # weights above 1 only
WEIGHTED = UP + ", [blurry]"  # and one down-weighted fragment: compel encodes the prompt without it
LONG = ", ".join(["a lighthouse on a cliff at dusk with gulls and waves"] * 12)  # 130 CLIP tokens


def median_seconds(run: Callable[[], object], repeats: int = 5) -> float:
    return timed(run, repeats)


def weighting_table(shelf: ModelShelf, names: Sequence[str]) -> list[str]:
    rows = [
        "| family | prompt | conditioning ms | over plain text, ms | one step ms | over plain, % of a step |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name in names:
        rows += _weighting_rows(name, shelf.engine(name))
    return rows


def _weighting_rows(name: str, engine: Any) -> list[str]:
    pipe, side = engine.pipes.text, engine.native

    def plain() -> object:
        with torch.no_grad():
            return pipe.encode_prompt(
                prompt="a red apple", device=pipe.device, num_images_per_prompt=1,
                do_classifier_free_guidance=True, negative_prompt="lowres",
            )  # fmt: skip

    def steps(count: int) -> float:
        def run() -> object:
            return pipe(prompt="x", num_inference_steps=count, width=side, height=side, output_type="latent")

        return median_seconds(run, repeats=1)

    step = (steps(3) - steps(1)) / 2
    base = median_seconds(plain)
    rows = [f"| {name} | plain (text path) | {base * 1000:.1f} | 0 | {step * 1000:.0f} | 0 |"]
    empties = engine.empty_prompts.under(())  # as the engine passes it: warm after the first job
    prompt_arguments(pipe, UP, "lowres", None, empties)
    chunks = -(-(len(pipe.tokenizer(LONG).input_ids) - 2) // 75)  # the bundle's tokenizer: a byte a token
    cases = (("weighted, up only", UP), ("weighted, one down", WEIGHTED), (f"long, {chunks} chunks", LONG))
    for label, text in cases:
        seconds = median_seconds(lambda t=text: prompt_arguments(pipe, t, "lowres", None, empties))
        extra = seconds - base
        rows.append(
            f"| {name} | {label} | {seconds * 1000:.1f} | {extra * 1000:.1f} | {step * 1000:.0f} | "
            f"{100 * extra / step:.2f} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights-family", choices=["sd15", "sdxl", "both"], default="both")
    parser.add_argument("--only-weighting", action="store_true", help="only the prompt-weighting table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="likeness-models-bench-") as tmp:
        root = Path(tmp)
        names = ["sd15", "sdxl"] if args.weights_family == "both" else [args.weights_family]
        models = build(root, args.scale, names if args.only_weighting else ("sd15", "sdxl"))
        print(
            f"{args.scale} SD 1.5 and SDXL, float32 on the CPU, torch {torch.__version__} on "
            f"{args.threads} thread(s), {platform.processor() or 'cpu'}\n"
        )
        if not args.only_weighting:
            print("\n".join(swap_table(models)) + "\n")
            print("\n".join(memory_table(models)) + "\n")
            print("\n".join(asyncio.run(queue_table(root))) + "\n")
        print("\n".join(weighting_table(ModelShelf(models), names)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
