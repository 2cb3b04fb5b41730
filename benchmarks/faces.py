"""Face analysis benchmark: seconds per reference image, and recomputing a full 20-image set.

Prints a Markdown table (stdout) with, for each backend on this machine's CPU:

* analysis time per reference image (detection + landmarks + embedding of every face) at typical
  upload sizes; dlib on real photo crops (faces of insightface's ``t1.jpg``), insightface on the tiny
  synthetic pack (its cost says little about a real pack) and, with ``--insightface-dir``, on a real
  pack such as buffalo_l with the same real photos;
* recomputing a set of ``--set-size`` references: analysing every image, then the set embedding and
  the per-reference consistency scores (what ``/character`` has to redo after a backend change).

Decoding the upload (``load_image``) is not included. Every timed path runs once untimed first.
Run from the repository root::

    python benchmarks/faces.py [--repeats N] [--set-size N] [--insightface-dir PATH] [--det-size PX]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import logging
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from PIL import Image, ImageOps

from bot.engine.faces import FaceAnalyzer, consistency, set_embedding
from bot.engine.faces.dlib_backend import DlibAnalyzer
from bot.engine.faces.insightface_backend import InsightFaceAnalyzer

SIZES = (512, 1024, 2048)


@dataclass(frozen=True)
class Row:
    backend: str
    images: str
    faces: str
    median_ms: float
    spread_ms: str


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per image (median reported)")
    parser.add_argument("--set-size", type=int, default=20, help="references in the recomputed set")
    parser.add_argument("--insightface-dir", type=Path, help="a real insightface pack (e.g. buffalo_l)")
    parser.add_argument("--det-size", type=int, default=640, help="detector size for --insightface-dir")
    return parser.parse_args(argv)


def t1_photo() -> Image.Image:
    path = Path(str(resources.files("insightface") / "data" / "images" / "t1.jpg"))
    with Image.open(path) as image:
        return image.convert("RGB")


def reference_crops(photo: Image.Image, analyzer: DlibAnalyzer, side: int, count: int) -> list[Image.Image]:
    """`count` one-face references with longer side `side`: t1's six people, alternately mirrored."""
    faces = sorted(analyzer.analyze(photo), key=lambda face: face.box[0])
    crops = []
    for index in range(count):
        face = faces[index % len(faces)]
        x0, y0, x1, y1 = face.box
        w, h = x1 - x0, y1 - y0
        crop = photo.crop((round(x0 - w), round(y0 - h), round(x1 + w), round(y1 + h)))
        crop = crop.resize((side, round(side * crop.height / crop.width)), Image.Resampling.LANCZOS)
        crops.append(ImageOps.mirror(crop) if (index // len(faces)) % 2 else crop)
    return crops


def marker_images(side: int, count: int) -> list[Image.Image]:
    """Synthetic one-face references for the tiny pack (a marker covering ~40 % of the width)."""
    from bot.tiny import draw_face_marker

    images = []
    for index in range(count):
        image = Image.new("RGB", (side, side), (110 + index, 120, 130))
        x0 = side // 4 + index % 5
        draw_face_marker(image, (x0, side // 4, x0 + int(side * 0.4), side // 4 + int(side * 0.4)), index % 6)
        images.append(image)
    return images


def time_call(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up: first-call allocations and session set-up are not what we measure
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def per_image(
    backend: str, analyzer: FaceAnalyzer, label: str, images: list[Image.Image], repeats: int
) -> Row:
    times: list[float] = []
    counts = set()
    for image in images:
        counts.add(len(analyzer.analyze(image)))
        times.extend(time_call(lambda image=image: analyzer.analyze(image), repeats))
    spread = f"{1000 * min(times):.0f}–{1000 * max(times):.0f}"
    faces = "/".join(str(c) for c in sorted(counts))
    return Row(backend, label, faces, 1000 * statistics.median(times), spread)


def recompute_set(analyzer: FaceAnalyzer, images: list[Image.Image]) -> tuple[float, float]:
    """Seconds to analyse every reference and derive the set embedding and consistency scores."""
    start = time.perf_counter()
    analyses = [analyzer.analyze(image) for image in images]
    embeddings = [faces[0].embedding for faces in analyses if faces]  # a real set skips faceless images
    analysed = time.perf_counter()
    if embeddings:
        set_embedding(embeddings, primary_index=0)
        consistency(embeddings)
    else:
        logging.warning("%s found no face in any of the %d set images", analyzer.backend, len(images))
    done = time.perf_counter()
    return done - start, done - analysed


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)  # skimage deprecation inside insightface
    rows: list[Row] = []
    sets: list[tuple[str, str, float, float]] = []

    photo = t1_photo()
    dlib_analyzer = DlibAnalyzer()
    for side in SIZES:
        crops = reference_crops(photo, dlib_analyzer, side, 3)
        rows.append(per_image("dlib", dlib_analyzer, f"t1 face crop, {side} px", crops, args.repeats))
    rows.append(per_image("dlib", dlib_analyzer, "t1.jpg whole, 1280×886", [photo], args.repeats))
    set_images = reference_crops(photo, dlib_analyzer, 1024, args.set_size)
    recompute_set(dlib_analyzer, set_images[:2])
    sets.append(("dlib", "1024 px photo crops", *recompute_set(dlib_analyzer, set_images)))

    with tempfile.TemporaryDirectory() as tmp:
        from bot.tiny.face_pack import DET_INPUT_SIZE, save_face_pack

        tiny = InsightFaceAnalyzer(save_face_pack(Path(tmp) / "tiny"), det_size=DET_INPUT_SIZE)
        for side in SIZES:
            rows.append(
                per_image(
                    "insightface (tiny pack)",
                    tiny,
                    f"marker, {side} px",
                    marker_images(side, 3),
                    args.repeats,
                )
            )
        markers = marker_images(1024, args.set_size)
        recompute_set(tiny, markers[:2])
        sets.append(("insightface (tiny pack)", "1024 px markers", *recompute_set(tiny, markers)))

    if args.insightface_dir is not None:
        real = InsightFaceAnalyzer(args.insightface_dir, det_size=args.det_size)
        name = f"insightface ({args.insightface_dir.name}, det {args.det_size})"
        for side in SIZES:
            crops = reference_crops(photo, dlib_analyzer, side, 3)
            rows.append(per_image(name, real, f"t1 face crop, {side} px", crops, args.repeats))
        rows.append(per_image(name, real, "t1.jpg whole, 1280×886", [photo], args.repeats))
        recompute_set(real, set_images[:2])
        sets.append((name, "1024 px photo crops", *recompute_set(real, set_images)))

    print(
        f"Face analysis on {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), CPU only\n"
    )
    print("| Backend | Reference image | Faces | Median per image | Range |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row.backend} | {row.images} | {row.faces} | {row.median_ms:.0f} ms | {row.spread_ms} ms |")
    print(f"\n| Backend | Recompute a {args.set_size}-image set | Total | Set embedding + consistency |")
    print("|---|---|---:|---:|")
    for backend, label, total, arithmetic in sets:
        print(f"| {backend} | {label} | {total:.2f} s | {1000 * arithmetic:.2f} ms |")


if __name__ == "__main__":
    main()
