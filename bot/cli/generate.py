"""``generate``: run the engine once without Discord; PNG paths on stdout, progress on stderr."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from bot.engine.images import ASPECT_RATIOS, load_image, load_mask
from bot.engine.outpaint import OUTPAINT_TARGETS
from bot.engine.styles import STYLE_NAMES
from bot.errors import InvalidRequest
from bot.jobs import (
    DEFAULT_CFG,
    DEFAULT_IDENTITY_WEIGHT,
    DEFAULT_IMAGE_WEIGHT,
    IDENTITY_MODES,
    GenerationRequest,
    GenerationResult,
    Mode,
)
from bot.settings import Settings
from bot.validation import face_lock_defaults, validate_request

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "generate",
        help="generate images from the command line",
        description="Generate images with the configured model and write PNGs that carry their parameters.",
    )
    parser.add_argument("--prompt", required=True, help="what to make or change (≤ 1000 characters)")
    parser.add_argument("--image", type=Path, help="source image (needed by every mode but text)")
    parser.add_argument(
        "--mode", choices=[m.value for m in Mode], help="default: img2img with --image, text without"
    )
    parser.add_argument(
        "--strength",
        type=float,
        help="0–1: how far the result may move from the image (img2img 0.35, "
        "inpaint 0.85, outpaint 0.95 by default)",
    )
    parser.add_argument("--cfg", type=float, default=DEFAULT_CFG, help="0–20: how hard the prompt pushes")
    parser.add_argument("--steps", type=int, help="1–100 (default LIKENESS_DEFAULT_STEPS)")
    parser.add_argument("--seed", type=int, help="0–4294967295; random when absent, always reported")
    parser.add_argument("--negative", default="", help="what to avoid")
    parser.add_argument("--mask", type=Path, help="inpaint mask: white = repaint, any size, same shape")
    parser.add_argument("--expand", choices=OUTPAINT_TARGETS, help="outpaint target ratio or direction")
    parser.add_argument(
        "--image-weight", type=float, default=DEFAULT_IMAGE_WEIGHT, help="0–1.5: image_prompt influence"
    )
    parser.add_argument("--candidates", type=int, default=1, help="1–4, generated as one batch")
    parser.add_argument("--style", choices=STYLE_NAMES, help="style preset")
    parser.add_argument("--aspect", choices=ASPECT_RATIOS, default="1:1", help="text/image_prompt size")
    parser.add_argument("--character", help="face lock on this character set (from the bot's database)")
    parser.add_argument("--user", type=int, help="Discord user id that owns --character")
    parser.add_argument(
        "--character-weight",
        type=float,
        default=DEFAULT_IDENTITY_WEIGHT,
        help="0–1.5: face lock strength (default 0.8)",
    )
    parser.add_argument(
        "--min-identity",
        type=float,
        help="0–1: remake candidates whose face scores below (default: LIKENESS_MIN_IDENTITY)",
    )
    parser.add_argument(
        "--max-tries",
        type=int,
        help="1–10: generation rounds --min-identity may use (default: LIKENESS_MAX_TRIES)",
    )
    parser.add_argument(
        "--identity-mode",
        choices=IDENTITY_MODES,
        default="all",
        help="all references as FaceID tokens together, or their mean",
    )
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (./outputs)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from bot.settings import load_settings

    settings = load_settings(args.env_file)
    mode = Mode(args.mode) if args.mode else (Mode.IMG2IMG if args.image else Mode.TEXT)
    request = GenerationRequest(
        prompt=args.prompt,
        mode=mode,
        image=args.image,
        mask=args.mask,
        negative=args.negative,
        strength=args.strength,
        cfg=args.cfg,
        steps=args.steps or settings.default_steps,
        seed=args.seed,
        candidates=args.candidates,
        style=args.style,
        expand=args.expand,
        image_weight=args.image_weight,
        aspect=args.aspect,
    )
    if args.character is not None:
        request = asyncio.run(_with_character(request, settings, args))
    elif args.min_identity is not None or args.max_tries is not None:
        raise InvalidRequest(
            "--min-identity and --max-tries score faces against a character: add --character and --user"
        )
    # Fail on bad input before the (slow) model load.
    request = validate_request(request)
    if request.image is not None:
        load_image(_readable(request.image, "image"), what="image")
    if request.mask is not None:
        load_mask(_readable(request.mask, "mask"))

    from bot.engine.config import EngineConfig
    from bot.engine.engine import Engine

    _quiet_libraries()
    analyzer = None
    if request.wants_identity:
        from bot.engine.faces.factory import load_face_analyzer

        analyzer = load_face_analyzer(
            settings.face_backend, settings.resolved_face_model_dir, settings.face_det_size, settings.device
        )
    engine = Engine.load(EngineConfig.from_settings(settings), face_analyzer=analyzer)
    with tqdm(
        total=request.steps,
        desc=f"{mode.value} seed {request.seed}",
        unit="step",
        file=sys.stderr,
        leave=False,
    ) as bar:

        def progress(step: int, total: int) -> None:
            bar.total = total
            bar.n = step
            bar.refresh()

        result = engine.generate(request, progress=progress)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if request.identity and engine.face_analyzer is not None:
        scores = ", ".join(
            f"seed {c.seed} " + ("no face" if c.identity is None else f"identity {c.identity:.2f}")
            for c in result.candidates
        )
        print(f"{scores} ({result.tries} tr{'y' if result.tries == 1 else 'ies'})", file=sys.stderr)
    for path in write_outputs(result, args.out):
        print(path)
    return 0


async def _with_character(
    request: GenerationRequest, settings: Settings, args: argparse.Namespace
) -> GenerationRequest:
    """Read the character's identity from the bot's database, as a face-locked job would."""
    from bot.characters import IdentitySource
    from storage import CharacterRepository, Database, MediaStore

    if args.user is None:
        raise InvalidRequest("--character needs --user: the Discord user id that owns the character")
    db = await Database.open(settings.database_path)
    try:
        media = MediaStore(settings.media_dir)
        repo = CharacterRepository(db, media)
        character = await repo.resolve(args.user, args.character)
        identity, primary = await IdentitySource(repo, media).identity_for(args.user, character.id)
    finally:
        await db.close()
    floor, tries = face_lock_defaults(
        args.min_identity,
        args.max_tries,
        has_character=True,
        server_min_identity=settings.min_identity,
        budget=settings.max_tries,
    )
    return replace(
        request,
        identity=identity,
        identity_image=primary,
        identity_weight=args.character_weight,
        identity_mode=args.identity_mode,
        min_identity=floor,
        max_tries=tries,
    )


def _readable(path: Path, what: str) -> bytes:
    from bot.errors import BadImage

    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadImage(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None


def write_outputs(result: GenerationResult, out: Path) -> list[Path]:
    """Write each candidate atomically under a unique name; never overwrite an earlier result."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    paths: list[Path] = []
    for candidate in result.candidates:
        target = out / f"likeness-{stamp}-{result.request.mode.value}-{candidate.seed}.png"
        n = 1
        while target.exists():
            target = out / f"likeness-{stamp}-{result.request.mode.value}-{candidate.seed}-{n}.png"
            n += 1
        with tempfile.NamedTemporaryFile(dir=out, prefix=".tmp-", suffix=".png", delete=False) as tmp:
            tmp.write(candidate.png)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, target)
        paths.append(target)
    return paths


def _quiet_libraries() -> None:
    """diffusers/transformers print advice meant for library authors; keep stderr for our progress."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
