"""Command-line entry: one subcommand per module; user errors become one line and exit code 2, a
database that cannot be opened (a failing migration, another process's migration lock) one line
and exit code 4."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot import logs
from bot.cli import api, describe, faces, fetch, forget, generate, run, tiny, upscale
from bot.explain import explain
from storage import LockTimeout, MigrationError

EXIT_BAD_INPUT = 2
EXIT_MODEL_MISSING = 3
EXIT_DATABASE = 4
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Likeness: reference-guided image generation on your own GPU, from Discord or here.",
    )
    parser.add_argument(
        "--env-file",
        default=".env",
        help="settings file read before the environment (default: .env); "
        "e.g. DIR/tiny.env from `tiny-models`",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (run, api, generate, upscale, describe, fetch, tiny, faces, forget):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(logging.DEBUG if args.verbose else getattr(args, "log_level", logging.WARNING))
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (MigrationError, LockTimeout) as exc:
        # The operator's to fix, not a bug: the file and SQLite's words say it all (-v: the traceback).
        logging.getLogger(__name__).debug("the database could not be opened", exc_info=True)
        print(f"error: cannot open the database: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_DATABASE
    except Exception as exc:
        explained = explain(exc)
        if explained is None:
            raise  # a bug: the traceback is the report
        if explained.code == "cancelled":
            print("cancelled", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"error: {explained.message}", file=sys.stderr)
        return EXIT_MODEL_MISSING if explained.code == "model_unavailable" else EXIT_BAD_INPUT
