"""The database and media hold biometric data: folders 0700, files 0600, older installs tightened."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import Database, MediaStore

pytestmark = pytest.mark.asyncio(loop_scope="session")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default, under which plain mkdir/open give 0755/0644."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


async def test_a_new_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "likeness.sqlite3"
    async with await Database.open(path) as db:
        await db.execute("CREATE TABLE t (x BLOB)")  # something in the WAL
        wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: mode(p) for p in (path, wal, shm)} == {
            "likeness.sqlite3": 0o600,
            "likeness.sqlite3-wal": 0o600,
            "likeness.sqlite3-shm": 0o600,
        }
    assert mode(path.parent) == 0o700


async def test_an_older_looser_database_is_tightened_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "likeness.sqlite3"
    # An install from before: sqlite3 creates the files 0644 under umask 022; keep the WAL alive.
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("CREATE TABLE old (x INTEGER)")
        wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
        assert (mode(path), mode(wal), mode(shm)) == (0o644, 0o644, 0o644)
        async with await Database.open(path):
            assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    finally:
        raw.close()


async def test_media_folders_and_files_are_owner_only(tmp_path: Path) -> None:
    media = MediaStore(tmp_path / "data" / "media")
    sha = media.put(b"a reference photo", "png")
    file = media.path(sha, "png")
    assert mode(file) == 0o600
    assert mode(file.parent) == 0o700  # media/ab
    assert mode(media.root) == 0o700
    assert mode(media.root.parent) == 0o700  # created as a missing parent too


async def test_an_older_looser_media_root_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "media"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    MediaStore(root)
    assert mode(root) == 0o700


async def test_existing_parents_are_left_alone_and_tight_modes_kept(tmp_path: Path) -> None:
    """Only folders it creates are made private: the operator's own folders keep their mode."""
    from storage.permissions import make_private_dirs, tighten

    os.chmod(tmp_path, 0o755)
    make_private_dirs(tmp_path / "a" / "b")
    assert (mode(tmp_path), mode(tmp_path / "a"), mode(tmp_path / "a" / "b")) == (0o755, 0o700, 0o700)
    os.chmod(tmp_path / "a", 0o500)
    assert not tighten(tmp_path / "a", 0o700)  # already tighter: not loosened
    assert mode(tmp_path / "a") == 0o500
    os.chmod(tmp_path / "a", 0o700)
