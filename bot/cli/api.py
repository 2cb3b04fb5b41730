"""``api``: serve the HTTP API alone; ``api-key``: create, list and revoke the keys it takes."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from bot.actions.apikeys import ApiKeys
from bot.errors import SettingsInvalid

T = TypeVar("T")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "api",
        help="serve the HTTP job API without Discord",
        description="The HTTP job API (docs at /docs) on the bot's queue, characters and GPU worker, with no "
        "Discord token. Keys: `python -m bot api-key create --user ID`.",
    )
    serve.add_argument("--port", type=int, help="port (default: LIKENESS_API_PORT, else 8765)")
    serve.add_argument("--host", help="address (default: LIKENESS_API_HOST, 127.0.0.1)")
    serve.set_defaults(handler=handle_serve, log_level=logging.INFO)

    keys = sub.add_parser("api-key", help="create, list or revoke HTTP API keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="a new key for a Discord user",
        description="Prints the key alone on the first line and its webhook secret (whsec_…) on the second. "
        "The key is shown this once: only its hash is kept.",
    )
    create.add_argument("--user", type=int, required=True, help="the Discord user id the key acts as")
    create.add_argument("--name", default="", help="a label to tell keys apart")
    create.add_argument(
        "--allow-nsfw",
        action="store_true",
        help="the key may fetch outputs flagged NSFW (without it the API withholds them)",
    )
    create.set_defaults(handler=handle_create, log_level=logging.WARNING)
    listing = actions.add_parser("list", help="a user's keys")
    listing.add_argument("--user", type=int, required=True)
    listing.set_defaults(handler=handle_list, log_level=logging.WARNING)
    revoke = actions.add_parser("revoke", help="revoke a key by its id (from list)")
    revoke.add_argument("key_id", type=int)
    revoke.set_defaults(handler=handle_revoke, log_level=logging.WARNING)
    nsfw = actions.add_parser(
        "nsfw",
        help="allow or stop a key fetching outputs flagged NSFW",
        description="With `allow`, the key gets outputs the NSFW check flagged; with `withhold` (every "
        "new key's setting) the API marks them withheld and refuses to serve them.",
    )
    nsfw.add_argument("key_id", type=int)
    nsfw.add_argument("choice", choices=("allow", "withhold"))
    nsfw.set_defaults(handler=handle_nsfw, log_level=logging.WARNING)


def handle_serve(args: argparse.Namespace) -> int:
    from bot.app.settings import load_settings
    from bot.cli import log_settings

    settings = load_settings(args.env_file)
    log_settings.apply(settings, verbose=args.verbose)
    port = args.port or settings.api_port or 8765
    if not 1 <= port <= 65535:
        raise SettingsInvalid(f"--port must be 1–65535 (got {port})")
    host = args.host or settings.api_host
    settings = settings.model_copy(update={"api_port": port, "api_host": host})
    from bot.api.standalone import run_alone

    run_alone(settings, host, port)
    return 0


def handle_create(args: argparse.Namespace) -> int:
    new = asyncio.run(
        _with_keys(args, lambda keys: keys.create(args.user, args.name, allow_nsfw=args.allow_nsfw))
    )
    print(new.key)
    print(new.webhook_secret)
    return 0


def handle_list(args: argparse.Namespace) -> int:
    rows = asyncio.run(_with_keys(args, lambda keys: keys.list(args.user)))
    if not rows:
        print(f"user {args.user} has no API keys")
    for row in rows:
        state = f"revoked {_when(row.revoked_at)}" if row.revoked_at else "active"
        used = f"last used {_when(row.last_used_at)}" if row.last_used_at else "never used"
        nsfw = "nsfw allowed" if row.allow_nsfw else "nsfw withheld"
        created = f"created {_when(row.created_at)}"
        print(f"{row.id}\t{row.prefix}…\t{row.name or '-'}\t{created}\t{used}\t{state}\t{nsfw}")
    return 0


def handle_revoke(args: argparse.Namespace) -> int:
    row = asyncio.run(_with_keys(args, lambda keys: keys.revoke(args.key_id)))
    print(f"revoked key {row.id} ({row.prefix}…) of user {row.user_id}")
    return 0


def handle_nsfw(args: argparse.Namespace) -> int:
    allow = args.choice == "allow"
    row = asyncio.run(_with_keys(args, lambda keys: keys.set_allow_nsfw(args.key_id, allow)))
    verdict = "gets" if row.allow_nsfw else "no longer gets"
    print(f"key {row.id} ({row.prefix}…) of user {row.user_id} {verdict} outputs flagged NSFW")
    return 0


async def _with_keys(args: argparse.Namespace, action: Callable[[ApiKeys], Awaitable[T]]) -> T:
    from bot.app.settings import load_settings
    from storage import ApiKeyRepository, Database
    from storage.permissions import make_private_dirs

    settings = load_settings(args.env_file)
    make_private_dirs(settings.data_dir)
    db = await Database.open(settings.database_path)
    try:
        return await action(ApiKeys(ApiKeyRepository(db)))
    finally:
        await db.close()


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")
