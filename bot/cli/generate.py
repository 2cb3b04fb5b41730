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
from bot.cli.flags import add_job_flags, job_values
from bot.engine.uploads import UploadInfo, check_uploads
from bot.errors import BadImage, InvalidRequest
from bot.jobs import GenerationRequest, GenerationResult
from bot.options import job_params
from bot.params import JobParams
from bot.reframe import check_reframe

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "generate",
        help="generate images from the command line",
        description="Generate images with the configured model and write PNGs that carry their parameters.",
    )
    add_job_flags(parser)
    parser.add_argument("--user", type=int, help="the Discord user id that owns --character")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (./outputs)")
    parser.set_defaults(handler=handle)


def params_from(args: argparse.Namespace) -> JobParams:
    """The flags as a job's parameters: each flag's name is its option's (``--image-weight`` is
    ``image_weight``); what is left out is the server's or the mode's default."""
    return job_params(job_values(args), image=args.image is not None)


def handle(args: argparse.Namespace) -> int:
    from bot.app.settings import load_settings

    settings = load_settings(args.env_file)
    if args.character is not None and args.user is None:
        raise InvalidRequest("--character needs --user: the Discord user id that owns the character")
    # The checks a Discord job gets, before the (slow) model load: the same rules, defaults and budget.
    checked = asyncio.run(_check(params_from(args), settings, args))
    _check_files(checked, args, settings)

    from bot.engine.engine import Engine

    _quiet_libraries()
    analyzer = None
    if checked.params.face is not None:
        analyzer = settings.face_config.load()
    engine = Engine.load(settings.models_config.config(checked.params.model), face_analyzer=analyzer)
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
    policy = settings.nsfw_policy  # the files are the operator's own: flagged ones are said, not withheld
    for c in result.candidates:
        if policy.flagged(c.nsfw):
            print(f"warning: seed {c.seed} was flagged NSFW (score {c.nsfw:.2f})", file=sys.stderr)
    for suggestion in result.suggestions:  # --describe: the four prompts, and no images
        print(suggestion)
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
    from bot.engine.embeddings import EmbeddingLibrary
    from bot.engine.loras import LoraLibrary
    from storage import CharacterRepository, Database, MediaStore

    image, mask = _info(args.image, "image"), _info(args.mask, "mask")
    models = settings.models_config
    loras = LoraLibrary(settings.lora_dir)
    embeddings = EmbeddingLibrary(settings.embedding_dir)

    def capabilities(model: str | None) -> Capabilities:
        return Capabilities.of(models.config(model))

    if args.character is None:
        return await JobChecks(
            settings.defaults, capabilities, loras=loras, embeddings=embeddings, models=models
        ).check(0, params, image=image, mask=mask)
    db = await Database.open(settings.database_path)
    try:
        media = MediaStore(settings.media_dir)
        repo = CharacterRepository(db, media)
        checks = JobChecks(
            settings.defaults, capabilities, repo, IdentitySource(repo, media), loras, embeddings, models
        )
        return await checks.check(args.user, params, character=args.character, image=image, mask=mask)
    finally:
        await db.close()


def _info(path: Path | None, what: str) -> UploadInfo | None:
    if path is None:
        return None
    try:
        return UploadInfo(path.name, None, path.stat().st_size)
    except OSError as exc:
        raise BadImage(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None


def _check_files(checked: Checked, args: argparse.Namespace, settings: Settings) -> None:
    """The files decode and fit the job (the outpaint target, the mask's shape, the output limit),
    as uploads must."""
    image = _readable(args.image, "image") if args.image is not None else None
    mask = _readable(args.mask, "mask") if args.mask is not None else None
    picture, _ = check_uploads(checked.params, image, mask)
    if picture is not None and checked.params.expand is not None:
        check_reframe(picture.size, checked.params.expand, settings.bot_limits, None)


def _readable(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadImage(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None


def write_outputs(result: GenerationResult, out: Path) -> list[Path]:
    """Write each candidate (then the structure map, if any) atomically under a unique name; never
    overwrite an earlier result."""
    from storage.permissions import make_private_dirs

    make_private_dirs(out)  # the folders it creates are 0700, as the data folder's; files are 0600
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
