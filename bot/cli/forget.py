"""``forget-user USER_ID``: delete everything stored about one user, for an operator answering a
deletion request (the same as the user's own ``/forget-me``)."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from bot.errors import InvalidRequest

if TYPE_CHECKING:
    from bot.app.settings import Settings
    from storage import ForgetReport


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "forget-user",
        help="delete everything stored about one user",
        description="Delete a user's characters, reference images and face embeddings, jobs, outputs "
        "and API keys, as their /forget-me does. Their queued jobs are cancelled; a job the running bot "
        "is working on must finish or be cancelled first.",
    )
    parser.add_argument("user", type=int, help="the Discord user id")
    parser.add_argument("--yes", action="store_true", help="really delete (nothing is deleted without it)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if not args.yes:
        raise InvalidRequest(f"this deletes everything stored about user {args.user}: add --yes to do it")
    from bot.app.settings import load_settings

    report = asyncio.run(_forget(load_settings(args.env_file), args.user))
    print(
        f"deleted {report.characters} character(s), {report.images} reference image(s) with face "
        f"embeddings, {report.jobs} job(s), {report.outputs} output(s) and {report.files} file(s)"
    )
    return 0


async def _forget(settings: Settings, user_id: int) -> ForgetReport:
    from bot.app.services import Services  # no model is loaded: nothing here runs a job

    services = await Services.open(settings)
    try:
        return (await services.forget(user_id)).report
    finally:
        await services.close()
