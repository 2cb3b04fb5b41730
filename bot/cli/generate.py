"""``generate``: run the engine once without Discord; PNG paths on stdout, progress on stderr."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from bot.actions.submissions import Checked, JobChecks
from bot.app.settings import Settings
from bot.engine.uploads import UploadInfo, check_uploads
from bot.errors import BadImage, InvalidRequest
from bot.jobs import GenerationRequest, GenerationResult
from bot.params import (
    ASPECT_RATIOS,
    DEFAULT_ASPECT,
    DEFAULT_CFG,
    DEFAULT_IDENTITY_WEIGHT,
    DEFAULT_IMAGE_WEIGHT,
    IDENTITY_MODES,
    OUTPAINT_TARGETS,
    STRUCTURES,
    STYLE_NAMES,
    JobParams,
    Mode,
    face_lock,
    parse_loras,
)

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "generate",
        help="generate images from the command line",
        description="Generate images with the configured model and write PNGs that carry their parameters.",
    )
    parser.add_argument(
        "--prompt",
        default="",
        help="what to make or change (≤ 1000 characters); left out with --image, written from the image",
    )
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
    parser.add_argument(
        "--style", help=f"style preset ({', '.join(STYLE_NAMES)}) or one of LIKENESS_STYLE_LORAS"
    )
    parser.add_argument(
        "--aspect", choices=ASPECT_RATIOS, default=DEFAULT_ASPECT, help="text/image_prompt size"
    )
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
    parser.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="NAME[:WEIGHT]",
        help="a style LoRA from LIKENESS_LORA_DIR (weight 1 by default); repeat for up to three",
    )
    parser.add_argument(
        "--structure",
        choices=STRUCTURES,
        help="keep --image's composition (its edges or depth) in any mode; with --mode text the image "
        "is the structure reference only",
    )
    parser.add_argument(
        "--structure-weight", type=float, help="0–2: how strictly the structure is kept (default 1)"
    )
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (./outputs)")
    parser.set_defaults(handler=handle)


def params_from(args: argparse.Namespace) -> JobParams:
    """The flags as a job's parameters: each flag's name is its option's (``--image-weight`` is
    ``image_weight``); what is left out is the server's or the mode's default."""
    return JobParams(
        prompt=args.prompt,
        negative=args.negative,
        mode=Mode(args.mode) if args.mode else (Mode.IMG2IMG if args.image else Mode.TEXT),
        steps=args.steps,
        cfg=args.cfg,
        seed=args.seed,
        candidates=args.candidates,
        strength=args.strength,
        image_weight=args.image_weight,
        expand=args.expand,
        aspect=args.aspect,
        style=args.style,
        loras=parse_loras(",".join(args.lora)),
        structure=args.structure,
        structure_weight=args.structure_weight,
        face=face_lock(
            args.character,
            weight=args.character_weight,
            mode=args.identity_mode,
            min_identity=args.min_identity,
            max_tries=args.max_tries,
        ),
    )


def handle(args: argparse.Namespace) -> int:
    from bot.app.settings import load_settings

    settings = load_settings(args.env_file)
    if args.character is not None and args.user is None:
        raise InvalidRequest("--character needs --user: the Discord user id that owns the character")
    # The checks a Discord job gets, before the (slow) model load: the same rules, defaults and budget.
    checked = asyncio.run(_check(params_from(args), settings, args))
    _check_files(checked, args)

    from bot.engine.engine import Engine

    _quiet_libraries()
    analyzer = None
    if checked.params.face is not None:
        analyzer = settings.face_config.load()
    engine = Engine.load(settings.engine_config, face_analyzer=analyzer)
    request = GenerationRequest(checked.params, args.image, args.mask, checked.identity)
    with tqdm(
        total=checked.params.steps,
        desc=f"{checked.params.mode.value} seed {checked.params.seed}",
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
    if checked.params.face is not None and engine.face_analyzer is not None:
        scores = ", ".join(
            f"seed {c.seed} " + ("no face" if c.identity is None else f"identity {c.identity:.2f}")
            for c in result.candidates
        )
        print(f"{scores} ({result.tries} tr{'y' if result.tries == 1 else 'ies'})", file=sys.stderr)
    paths = write_outputs(result, args.out)
    if result.structure is not None:
        print(f"structure map: {paths.pop()}", file=sys.stderr)
    for path in paths:
        print(path)
    return 0


async def _check(params: JobParams, settings: Settings, args: argparse.Namespace) -> Checked:
    """``JobChecks`` as a Discord job gets them; a character is read from the bot's database."""
    from bot.characters.identity import IdentitySource
    from bot.engine.checks import Capabilities
    from bot.engine.loras import LoraLibrary
    from storage import CharacterRepository, Database, MediaStore

    files = {"image": _info(args.image, "image"), "mask": _info(args.mask, "mask")}
    capabilities = Capabilities.of(settings.engine_config)
    loras = LoraLibrary(settings.lora_dir)
    if args.character is None:
        return await JobChecks(settings.defaults, lambda: capabilities, loras=loras).check(0, params, **files)
    db = await Database.open(settings.database_path)
    try:
        media = MediaStore(settings.media_dir)
        repo = CharacterRepository(db, media)
        checks = JobChecks(settings.defaults, lambda: capabilities, repo, IdentitySource(repo, media), loras)
        return await checks.check(args.user, params, character=args.character, **files)
    finally:
        await db.close()


def _info(path: Path | None, what: str) -> UploadInfo | None:
    if path is None:
        return None
    try:
        return UploadInfo(path.name, None, path.stat().st_size)
    except OSError as exc:
        raise BadImage(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None


def _check_files(checked: Checked, args: argparse.Namespace) -> None:
    """The files decode and fit the job (the outpaint target, the mask's shape), as uploads must."""
    image = _readable(args.image, "image") if args.image is not None else None
    mask = _readable(args.mask, "mask") if args.mask is not None else None
    check_uploads(checked.params, image, mask)


def _readable(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadImage(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None


def write_outputs(result: GenerationResult, out: Path) -> list[Path]:
    """Write each candidate (then the structure map, if any) atomically under a unique name; never
    overwrite an earlier result."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    mode = result.params.mode.value
    files = [(f"likeness-{stamp}-{mode}-{c.seed}", c.png) for c in result.candidates]
    if result.structure is not None:
        files.append(
            (f"likeness-{stamp}-{mode}-{result.params.seed}-{result.params.structure}", result.structure)
        )
    return [_write_new(out, stem, data) for stem, data in files]


def _write_new(out: Path, stem: str, data: bytes) -> Path:
    target, n = out / f"{stem}.png", 1
    while target.exists():
        target, n = out / f"{stem}-{n}.png", n + 1
    with tempfile.NamedTemporaryFile(dir=out, prefix=".tmp-", suffix=".png", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, target)
    return target


def _quiet_libraries() -> None:
    """diffusers/transformers print advice meant for library authors; keep stderr for our progress."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
