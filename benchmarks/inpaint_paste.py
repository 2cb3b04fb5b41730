"""Inpaint paste-back cost: putting the model's output back onto the user's photo at its own resolution.

The model repaints at its native size; the engine then scales the output up, feathers the user's
mask at the photo's size and blends only the masked box. This prints the CPU time of that work per
photo size and mask (a face-sized box and an almost-full mask), the part a GPU does not speed up.
Run from the repository root::

    python benchmarks/inpaint_paste.py [--repeats N]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import statistics
import time

from PIL import Image

from bot.engine.masks import composite, prepare_inpaint_mask

SIZES = ((512, 512), (1024, 768), (2048, 1536))
NATIVE = (512, 384)


def _masks(size: tuple[int, int]) -> dict[str, Image.Image]:
    w, h = size
    face = Image.new("L", size, 0)
    face.paste(255, (w * 2 // 5, h // 4, w * 3 // 5, h // 2))
    full = Image.new("L", size, 0)
    full.paste(255, (w // 40, h // 40, w - w // 40, h - h // 40))
    return {"face box (4 % of the photo)": face, "almost everything": full}


def _time(repeats: int, size: tuple[int, int], mask: Image.Image) -> tuple[float, float]:
    photo = Image.new("RGB", size, (120, 90, 60))
    generated = Image.new("RGB", NATIVE, (30, 60, 90))
    masks, pastes = [], []
    for _ in range(repeats + 1):  # the first run warms up and is dropped
        start = time.perf_counter()
        blend = prepare_inpaint_mask(mask, size).blend
        mid = time.perf_counter()
        composite(photo, generated.resize(size, Image.Resampling.LANCZOS), blend)
        end = time.perf_counter()
        masks.append(mid - start)
        pastes.append(end - mid)
    return statistics.median(masks[1:]) * 1000, statistics.median(pastes[1:]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("| photo | mask | feather mask ms | scale + blend ms per candidate |")
    print("| --- | --- | ---: | ---: |")
    for size in SIZES:
        for name, mask in _masks(size).items():
            mask_ms, paste_ms = _time(args.repeats, size, mask)
            print(f"| {size[0]}×{size[1]} | {name} | {mask_ms:.0f} | {paste_ms:.0f} |")


if __name__ == "__main__":
    main()
