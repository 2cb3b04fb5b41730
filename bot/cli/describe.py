"""``describe``: four prompts from an image, on the command line; only the captioning model loads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.engine.family import Family
from bot.errors import BadImage, InvalidRequest


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "describe",
        help="write four prompts from an image",
        description="Caption IMAGE with LIKENESS_CAPTION_MODEL and print four prompts, one per line: "
        "short, detailed, and two style and lighting variants, written for the model's family.",
    )
    parser.add_argument("image", type=Path, help="the picture to describe")
    parser.add_argument("--detail", action="store_true", help="a longer, more detailed description")
    parser.add_argument(
        "--family",
        choices=["auto", *(f.value for f in Family)],
        default="auto",
        help="write for this family (auto: LIKENESS_MODEL's, read from its files)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from bot.app.settings import load_settings
    from bot.engine.captions import Captioner
    from bot.engine.checks import DESCRIBE_OFF
    from bot.engine.describe import family_from_files, prompts_for

    settings = load_settings(args.env_file)
    model = settings.caption_model_enabled
    if model is None:
        raise InvalidRequest(DESCRIBE_OFF.replace("on this bot", "here"))
    data = _checked(args.image)
    family = Family(args.family) if args.family != "auto" else None
    if family is None:
        family = family_from_files(settings.model, settings.checkpoint_config)
        if family is None:
            family = Family.SD15
            print(
                f"note: the family of {settings.model} is unknown here; writing for SD 1.5", file=sys.stderr
            )
    from bot.engine.device import resolve_device

    device, _ = resolve_device(settings.device, settings.dtype)
    captioner = Captioner(model, str(device), settings.offline)
    for prompt in prompts_for(captioner, data, family, detailed=args.detail):
        print(prompt)
    return 0


def _checked(path: Path) -> bytes:
    """The file, refused as an upload would be (its size before it is read, then its picture) before
    the captioning model loads."""
    from bot.engine.uploads import UploadInfo, check_image, check_metadata

    try:
        check_metadata(UploadInfo(path.name, None, path.stat().st_size), "image")
        data = path.read_bytes()
    except OSError as exc:
        raise BadImage(f"cannot read the image file {path}: {exc.strerror or exc}") from None
    check_image(data, "image")
    return data
