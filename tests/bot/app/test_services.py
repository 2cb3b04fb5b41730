"""The bot's data folder at start-up: created owner-only, and an older, looser install tightened."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

from bot.app.services import Services
from bot.app.settings import load_settings
from bot.tiny import TinyBundle


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def _open_and_store(bundle: TinyBundle, data: Path) -> Path:
    services = await Services.open(load_settings(bundle.env_file, data_dir=data))
    try:
        sha = services.media.put(b"an uploaded photo", "png")
        return services.media.path(sha, "png")
    finally:
        await services.close()


def test_a_new_data_folder_is_owner_only(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    data = tmp_path / "srv" / "data"
    before = os.umask(0o022)
    try:
        photo = asyncio.run(_open_and_store(tiny_bundle, data))
    finally:
        os.umask(before)
    assert {
        str(p.relative_to(tmp_path)): mode(p) for p in (data.parent, data, data / "media", photo.parent)
    } == {
        "srv": 0o700,
        "srv/data": 0o700,
        "srv/data/media": 0o700,
        f"srv/data/media/{photo.parent.name}": 0o700,
    }
    assert (mode(data / "likeness.sqlite3"), mode(photo)) == (0o600, 0o600)


def test_an_existing_world_readable_install_is_tightened(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "media").mkdir(parents=True)
    for folder in (data, data / "media"):
        os.chmod(folder, 0o755)
    sqlite3.connect(data / "likeness.sqlite3").close()
    os.chmod(data / "likeness.sqlite3", 0o644)

    asyncio.run(_open_and_store(tiny_bundle, data))

    assert (mode(data), mode(data / "media"), mode(data / "likeness.sqlite3")) == (0o700, 0o700, 0o600)
