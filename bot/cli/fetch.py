"""``fetch-models``: download ahead of time everything the settings name, so a machine is warm before
it goes live; prints where each part went."""

from __future__ import annotations

import argparse
import logging

from bot.errors import SettingsInvalid


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "fetch-models",
        help="download the model, adapters and face pack the settings name",
        description="Downloads into the Hugging Face cache (models, adapters) and the data folder (the "
        "insightface face pack) whatever the settings name and this machine lacks. Local folders and files "
        "are left as they are. Prints one line per part: what, where, and whether it was downloaded.",
    )
    parser.set_defaults(handler=handle, log_level=logging.WARNING)


def handle(args: argparse.Namespace) -> int:
    from bot.app.settings import load_settings
    from bot.engine.downloads import Fetched, fetch_all

    settings = load_settings(args.env_file)
    if settings.offline:
        raise SettingsInvalid("LIKENESS_OFFLINE=1 forbids downloads: unset it to fetch the models")

    def report(item: Fetched) -> None:
        print(f"{item.what}: {item.where} ({item.note})", flush=True)

    fetch_all(
        settings.engine_config,
        settings.face_config,
        settings.face_pack_url,
        report,
        face_pack_sha256=settings.face_pack_sha256,
    )
    return 0
