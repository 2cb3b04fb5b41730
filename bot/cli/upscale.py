"""``upscale``: a picture made larger on the command line. A plain upscale loads the
super-resolution model alone; ``--detail`` loads the diffusion model too, for the detail pass."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import InvalidRequest
from bot.jobs import Candidate, GenerationRequest, GenerationResult
from bot.params import UPSCALE_RANGE, JobParams, Mode

if TYPE_CHECKING:
    from bot.app.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.actions.upscales import FIRST_FACTOR

    parser = sub.add_parser(
        "upscale",
        help="make a picture larger with the super-resolution model",
        description="Enlarge IMAGE with LIKENESS_UPSCALER (tiled, so memory stays bounded) and write a PNG "
        "that carries its parameters; --detail then redraws fine detail over tiles with the diffusion model.",
    )
    parser.add_argument("image", type=Path, help="the picture to enlarge")
    parser.add_argument(
        "--factor",
        type=float,
        default=FIRST_FACTOR,
        help=f"how many times larger each side gets, {UPSCALE_RANGE[0]:g}–{UPSCALE_RANGE[1]:g} "
        f"(default {FIRST_FACTOR:g})",
    )
    parser.add_argument("--detail", action="store_true", help="redraw fine detail over tiles (slower)")
    parser.add_argument(
        "--strength",
        type=float,
        default=None,
        help="the detail pass's strength (0.3; implies --detail)",
    )
    parser.add_argument("--prompt", default="", help="with --detail: what the picture shows")
    parser.add_argument(
        "--model", default=None, help="with --detail: the checkpoint, by its LIKENESS_MODELS name"
    )
    parser.add_argument("--seed", type=int, default=None, help="with --detail: the seed of the detail pass")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="output folder (./outputs)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from bot.actions.upscales import DETAIL_STRENGTH
    from bot.app.settings import load_settings
    from bot.cli.generate import _check, _quiet_libraries, _readable, write_outputs
    from bot.engine.uploads import check_image
    from bot.output_limit import check_upscale

    settings = load_settings(args.env_file)
    detail = args.detail or args.strength is not None
    params = JobParams(
        prompt=args.prompt,
        mode=Mode.IMG2IMG,
        upscale=args.factor,
        strength=(args.strength if args.strength is not None else DETAIL_STRENGTH) if detail else None,
        seed=args.seed,
        model=args.model,
    )
    if not detail and (args.prompt or args.model or args.seed is not None):
        raise InvalidRequest("--prompt, --model and --seed are for the detail pass: add --detail")
    checks = argparse.Namespace(image=args.image, mask=None, character=None, user=None)
    checked = asyncio.run(_check(params, settings, checks))
    picture = check_image(_readable(args.image, "image"))
    check_upscale(checked.params, picture.size, settings.bot_limits, None)
    request = GenerationRequest(checked.params, args.image)
    if detail:
        from bot.engine.engine import Engine

        _quiet_libraries()
        engine = Engine.load(settings.models_config.config(checked.params.model))
        result = engine.generate(request, progress=_progress)
    else:
        result = _plain(settings, request)
    print(file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for path in write_outputs(result, args.out):
        print(path)
    return 0


def _plain(settings: Settings, request: GenerationRequest) -> GenerationResult:
    """Super-resolution alone: the diffusion model is never loaded."""
    from bot.engine.device import resolve_device
    from bot.engine.images import load_image
    from bot.engine.metadata import encode_png, public_model_name
    from bot.engine.upscale_job import plain_parameters
    from bot.engine.upscaler import Upscaler

    params, image = request.params, request.image
    assert settings.upscaler_enabled is not None and image is not None  # checked with the job
    assert params.upscale is not None and params.seed is not None
    device, _ = resolve_device(settings.device, settings.dtype)
    upscaler = Upscaler(settings.upscaler_enabled, str(device), settings.offline)
    enlarged = upscaler.upscale(load_image(image, what="image"), params.upscale, progress=_progress)
    model = public_model_name(settings.model)
    text = plain_parameters(image, params, enlarged.size, model, upscaler.name)
    candidate = Candidate(encode_png(enlarged, text), params.seed, *enlarged.size, text)
    return GenerationResult(params, (candidate,), model, 0.0)


def _progress(done: int, total: int) -> None:
    print(f"\rtile {done}/{total}", end="", file=sys.stderr, flush=True)
