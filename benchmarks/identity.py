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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bot.engine.config import EngineConfig  # noqa: E402
from bot.engine.engine import Engine  # noqa: E402
from bot.engine.faces.factory import load_face_analyzer  # noqa: E402
from bot.engine.identity import encode_identity  # noqa: E402
from bot.jobs import GenerationRequest, Mode  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402

SCENES = (
    "portrait in a rainy street at night",
    "portrait on a sunny beach",
    "portrait in a library",
    "portrait in a snowy forest",
    "portrait at a cafe table",
    "portrait on a rooftop at dusk",
)


def synthetic_references(root: Path) -> Path:
    from bot.engine.tiny import draw_face_marker

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
            from bot.engine.tiny import build_tiny_bundle

            settings: Settings = load_settings(build_tiny_bundle(Path(tmp) / "tiny").env_file)
        else:
            settings = load_settings(args.env_file)
        references = args.references or synthetic_references(Path(tmp) / "refs")
        analyzer = load_face_analyzer(
            settings.face_backend, settings.resolved_face_model_dir, settings.face_det_size
        )
        engine = Engine.load(EngineConfig.from_settings(settings), face_analyzer=analyzer)
        rows = run(engine, analyzer, references, args)
    print("| character | face lock | mean identity | faces found | s per candidate |")
    print("| --- | --- | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        f"\nmodel {settings.model}, face backend {settings.face_backend}, {args.scenes} scenes, "
        f"{args.steps} steps, weight {args.weight}"
    )


def run(engine: Engine, analyzer: object, references: Path, args: argparse.Namespace) -> list[list[str]]:
    from bot.engine.images import load_image

    rows: list[list[str]] = []
    for folder in sorted(p for p in references.iterdir() if p.is_dir()):
        embeddings = []
        for photo in sorted(folder.iterdir()):
            faces = analyzer.analyze(load_image(photo, what="reference"))  # type: ignore[attr-defined]
            if len(faces) == 1:
                embeddings.append(encode_identity(faces[0].embedding))
        if not embeddings:
            rows.append([folder.name, "–", "no usable reference", "–", "–"])
            continue
        primary = sorted(folder.iterdir())[0]
        for label, extra in (
            ("off", {}),
            ("FaceID all", {"identity_mode": "all"}),
            ("FaceID mean", {"identity_mode": "mean"}),
        ):
            scores: list[float] = []
            times: list[float] = []
            for scene in tqdm(SCENES[: args.scenes], desc=f"{folder.name} {label}", leave=False):
                request = GenerationRequest(
                    prompt=scene,
                    mode=Mode.TEXT,
                    steps=args.steps,
                    seed=len(times),
                    identity=tuple(embeddings),
                    identity_image=primary,
                    identity_weight=args.weight if extra else 0.0,
                    **extra,
                )
                started = time.perf_counter()
                result = engine.generate(request)
                times.append(time.perf_counter() - started)
                scores += [c.identity for c in result.candidates if c.identity is not None]
            mean = f"{statistics.mean(scores):.3f}" if scores else "no face"
            rows.append(
                [folder.name, label, mean, f"{len(scores)}/{len(times)}", f"{statistics.median(times):.2f}"]
            )
    return rows


if __name__ == "__main__":
    main()
