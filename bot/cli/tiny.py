"""``tiny-models DIR``: build the offline random-weight bundle and its settings file."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from bot.engine.family import Family


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "tiny-models",
        help="build a tiny random-weight model bundle offline (for tests and trying Likeness on a CPU)",
        description="Builds a tiny Stable Diffusion (SD 1.5 or SDXL) pipeline, IP-Adapter, IP-Adapter "
        "FaceID and an insightface-format face pack with random weights, and writes DIR/tiny.env. "
        "Outputs are noise: the bundle proves the wiring, not the art.",
    )
    parser.add_argument("dir", type=Path, help="folder to create (replaced if it holds a bundle)")
    parser.add_argument(
        "--family",
        choices=[f.value for f in Family],
        default=Family.SD15.value,
        help="the model family to build: SD 1.5 (one text encoder) or SDXL (two); default sd15",
    )
    parser.add_argument(
        "--scale",
        choices=("tiny", "full"),
        default="tiny",
        help="tiny: test-sized (default); full: the real architecture with random weights, for "
        "benchmarks (SD 1.5 about 4 GB, SDXL about 14 GB on disk)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from bot.tiny import build_tiny_bundle

    with tqdm(desc="building tiny models", unit="part", leave=False) as bar:

        def step(label: str) -> None:
            bar.set_postfix_str(label)
            bar.update(1)

        bundle = build_tiny_bundle(args.dir, progress=step, family=Family(args.family), scale=args.scale)
    print(bundle.env_file)
    return 0
