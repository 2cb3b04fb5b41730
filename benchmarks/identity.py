"""Identity held with and without face lock: mean identity score and time per candidate.

``python benchmarks/identity.py [--env-file PATH] [--references DIR] [--scenes N] [--steps N]``

``--references DIR`` holds one sub-folder of photos per character. Without it (and without
``--env-file``) the tiny bundle is built and synthetic marker "faces" stand in: the numbers are then
meaningless (a random model draws no faces) but the wiring runs end to end on the CPU. For each
character: its photos are analysed with the configured face backend, then N scenes are generated
from prompts with no source image, once without face lock, once with FaceID in each identity mode,
and every candidate is scored against the set.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bot.app.settings import Settings, load_settings  # noqa: E402
from bot.engine.engine import Engine  # noqa: E402
from bot.engine.faces.factory import load_face_analyzer  # noqa: E402
from bot.engine.identity import encode_identity  # noqa: E402
from bot.jobs import GenerationRequest, Identity  # noqa: E402
from bot.params import FaceLock, JobParams, Mode  # noqa: E402

log = logging.getLogger("benchmarks.identity")

SCENES = (
    "portrait in a rainy street at night",
    "portrait on a sunny beach",
    "portrait in a library",
    "portrait in a snowy forest",
    "portrait at a cafe table",
    "portrait on a rooftop at dusk",
)


def synthetic_references(root: Path) -> Path:
    from bot.tiny import draw_face_marker

    for person in (1, 2):
        folder = root / f"character-{person}"
        folder.mkdir(parents=True)
        for k in range(3):
            image = Image.new("RGB", (256, 256), (90 + 30 * k, 110, 130))
            size = 100 + 20 * k
            x = (256 - size) // 2
            draw_face_marker(image, (x, x, x + size, x + size), pattern_seed=person)
            image.save(folder / f"ref-{k}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env-file", type=Path)
    parser.add_argument("--references", type=Path)
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--weight", type=float, default=0.8)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        if args.env_file is None:
            from bot.tiny import build_tiny_bundle

            settings: Settings = load_settings(build_tiny_bundle(Path(tmp) / "tiny").env_file)
        else:
            settings = load_settings(args.env_file)
        references = args.references or synthetic_references(Path(tmp) / "refs")
        analyzer = load_face_analyzer(
            settings.face_backend, settings.resolved_face_model_dir, settings.face_det_size, settings.device
        )
        engine = Engine.load(settings.engine_config, face_analyzer=analyzer)
        rows = run(engine, analyzer, references, args)
    print("| character | face lock | mean identity | faces found | s per candidate |")
    print("| --- | --- | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")
    print(
        f"\nmodel {settings.model}, face backend {settings.face_backend}, {args.scenes} scenes, "
        f"{args.steps} steps, weight {args.weight}"
    )
    print(verdict(rows))


MODES = (("off", None), ("FaceID all", "all"), ("FaceID mean", "mean"))


@dataclass
class Row:
    """One character under one face-lock setting: a score (or None: no face) per scene, and times."""

    character: str
    label: str
    scores: list[float | None] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def cells(self) -> list[str]:
        found = [s for s in self.scores if s is not None]
        mean = f"{statistics.mean(found):.3f}" if found else "no face"
        seconds = f"{statistics.median(self.times):.2f}" if self.times else "–"
        return [self.character, self.label, mean, f"{len(found)}/{len(self.scores)}", seconds]


def verdict(rows: list[Row]) -> str:
    """Paired over the same scenes and seeds: all − mean, with a 95 % interval (no face counts as 0)."""
    by_key = {(r.character, r.label): r for r in rows}
    diffs = [
        (a or 0.0) - (m or 0.0)
        for character in {r.character for r in rows}
        if (character, "FaceID all") in by_key
        for a, m in zip(
            by_key[(character, "FaceID all")].scores, by_key[(character, "FaceID mean")].scores, strict=True
        )
        if a is not None or m is not None
    ]
    if len(diffs) < 2:
        return "all vs mean: too few faces found to compare"
    mean = statistics.mean(diffs)
    half = 1.96 * statistics.stdev(diffs) / len(diffs) ** 0.5
    better = "all" if mean > 0 else "mean"
    if abs(mean) <= half:
        return f"all − mean = {mean:+.3f} ± {half:.3f} over {len(diffs)} pairs: no clear difference"
    return f"all − mean = {mean:+.3f} ± {half:.3f} over {len(diffs)} pairs: {better} holds identity better"


def run(engine: Engine, analyzer: object, references: Path, args: argparse.Namespace) -> list[Row]:
    from bot.engine.images import load_image

    rows: list[Row] = []
    for folder in sorted(p for p in references.iterdir() if p.is_dir()):
        embeddings = []
        for photo in sorted(folder.iterdir()):
            faces = analyzer.analyze(load_image(photo, what="reference"))  # type: ignore[attr-defined]
            if len(faces) == 1:
                embeddings.append(encode_identity(faces[0].embedding))
        if not embeddings:
            log.warning("%s: no reference with exactly one face; skipped", folder.name)
            continue
        primary = sorted(folder.iterdir())[0]
        for label, mode in MODES:
            row = Row(folder.name, label)
            for scene in tqdm(range(args.scenes), desc=f"{folder.name} {label}", leave=False):
                params = JobParams(
                    prompt=SCENES[scene % len(SCENES)],
                    mode=Mode.TEXT,
                    steps=args.steps,
                    seed=scene,  # the same scene and seed under every setting: paired comparison
                    face=FaceLock(weight=args.weight if mode else 0.0, mode=mode or "all"),
                )
                request = GenerationRequest(params, identity=Identity(tuple(embeddings), primary))
                started = time.perf_counter()
                [candidate] = engine.generate(request).candidates
                row.times.append(time.perf_counter() - started)
                row.scores.append(candidate.identity)
            rows.append(row)
    return rows


if __name__ == "__main__":
    main()
