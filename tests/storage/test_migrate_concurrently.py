"""Several processes opening one database at once: one migrates under the lock, the rest wait and
find nothing to do; a waiter gives up after its bound and names the holder."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import shutil
import sqlite3
import time
from collections import Counter
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

import storage.db
from storage import Database, LockTimeout
from storage.db import LOCK_SUFFIX, default_migrations, load_migrations
from storage.filelock import exclusive_lock

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROCESSES = 6
PACKAGED = load_migrations(default_migrations())


class _Applied(logging.Handler):
    """Collects the files this process applied (``Database`` logs each one)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.files: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "applied migration %s":
            self.files.append(str(record.args[0]) if isinstance(record.args, tuple) else "")


def _open_at_once(path: str, barrier: Barrier) -> tuple[str, int, list[str], str]:
    """In a child: wait for all the others, open, report (outcome, version, files applied, module)."""
    applied = _Applied()
    logger = logging.getLogger("storage.db")
    logger.addHandler(applied)
    logger.setLevel(logging.INFO)

    async def go() -> int:
        barrier.wait()
        async with await Database.open(Path(path)) as db:
            return await db.schema_version()

    try:
        version = asyncio.run(go())
    except Exception as err:
        return (f"{type(err).__name__}: {err}", -1, applied.files, storage.db.__file__)
    return ("ok", version, applied.files, storage.db.__file__)


def open_in_processes(path: Path) -> list[tuple[str, int, list[str], str]]:
    ctx = multiprocessing.get_context("spawn")  # no inherited event loop or aiosqlite thread
    with ctx.Manager() as manager:
        barrier = manager.Barrier(PROCESSES)
        with ctx.Pool(PROCESSES) as pool:
            return pool.starmap(_open_at_once, [(str(path), barrier)] * PROCESSES, chunksize=1)


def applied_rows(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as raw:
        return [(int(v), str(n)) for v, n in raw.execute("SELECT version, name FROM schema_migrations")]


def check_each_applied_once(results: list[tuple[str, int, list[str], str]], expected: list[str]) -> None:
    assert [r[0] for r in results] == ["ok"] * PROCESSES, results
    assert {r[3] for r in results} == {storage.db.__file__}  # the children ran this checkout's code
    assert [r[1] for r in results] == [PACKAGED[-1].version] * PROCESSES
    applied = Counter(name for r in results for name in r[2])
    assert applied == Counter(expected)  # each file applied by exactly one process, once
    assert sum(1 for r in results if r[2]) == 1  # the first one did it all; the others found nothing


async def test_six_processes_open_a_fresh_database_at_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "likeness.sqlite3"
    results = await asyncio.to_thread(open_in_processes, path)
    check_each_applied_once(results, [m.filename for m in PACKAGED])
    assert applied_rows(path) == [(m.version, m.name) for m in PACKAGED]
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_six_processes_upgrade_an_old_database_at_once(tmp_path: Path) -> None:
    old = [m for m in PACKAGED if m.version <= 4]
    folder = tmp_path / "up_to_0004"
    folder.mkdir()
    for migration in old:
        shutil.copy(Path(str(default_migrations().joinpath(migration.filename))), folder / migration.filename)
    path = tmp_path / "old.sqlite3"
    async with await Database.open(path, migrations=folder) as db:
        assert await db.schema_version() == 4
        # A face-locked job in the 0003 columns, which 0005 renames: the upgrade must keep it.
        await db.execute(
            "INSERT INTO jobs (user_id, status, mode, prompt, cfg, steps, seed, candidates, image_weight, "
            "aspect, created_at, identity_weight) VALUES (1, 'queued', 'text', 'p', 7, 4, 1, 1, 0.6, "
            "'1:1', 0, 0.8)"
        )

    results = await asyncio.to_thread(open_in_processes, path)
    check_each_applied_once(results, [m.filename for m in PACKAGED if m.version > 4])
    assert applied_rows(path) == [(m.version, m.name) for m in PACKAGED]
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT face_weight FROM jobs").fetchall() == [(0.8,)]


async def test_an_opener_waits_for_the_lock_then_finds_nothing_to_do(db_path: Path) -> None:
    async with await Database.open(db_path):
        pass
    lock = db_path.with_name(db_path.name + LOCK_SUFFIX)
    async with exclusive_lock(lock, timeout=1, purpose="a test holding it"):
        opening = asyncio.create_task(Database.open(db_path, lock_timeout=10))
        await asyncio.sleep(0.3)
        waiting = not opening.done()  # not migrating beside the holder
    db = await asyncio.wait_for(opening, 10)
    try:  # closed even when the assertions fail: an open connection's thread keeps pytest alive
        assert waiting
        assert await db.migrate(default_migrations()) == []
    finally:
        await db.close()
    assert lock.read_text() == ""  # released: no holder named any more
    assert os.stat(lock).st_mode & 0o777 == 0o600


async def test_a_waiter_gives_up_after_its_bound_naming_the_holder(db_path: Path) -> None:
    async with await Database.open(db_path):
        pass
    lock = db_path.with_name(db_path.name + LOCK_SUFFIX)
    async with exclusive_lock(lock, timeout=1, purpose="migrating the database"):
        started = time.monotonic()
        try:
            opened = await Database.open(db_path, lock_timeout=0.3)
        except LockTimeout as err:
            message = str(err)
        else:
            await opened.close()
            pytest.fail("opened while another holder had the migration lock")
        assert time.monotonic() - started >= 0.3
    assert "\n" not in message
    assert str(lock) in message and f"pid {os.getpid()} on " in message
    assert "migrating the database" in message and "gave up after 0.3 s" in message
    async with await Database.open(db_path, lock_timeout=0.3):  # free again
        pass


async def test_a_failing_migration_names_its_file_and_sqlites_error(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_first.sql").write_text("CREATE TABLE a (x INTEGER);", encoding="utf-8")
    (folder / "0002_broken.sql").write_text("ALTER TABLE a RENAME COLUMN nope TO y;", encoding="utf-8")
    with pytest.raises(storage.MigrationError) as raised:
        await Database.open(tmp_path / "db.sqlite3", migrations=folder)
    assert str(raised.value) == (
        'migration 0002_broken.sql: OperationalError: no such column: "nope" '
        "(rolled back; the schema stays at version 1)"
    )
    assert raised.value.filename == "0002_broken.sql"
