"""Database: PRAGMAs, migrations, transactions and the task lock."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage import Database, MigrationError
from storage import jobs as jobs_module
from storage.db import default_migrations, load_migrations
from storage.schema import MEDIA_REFERENCES

pytestmark = pytest.mark.asyncio(loop_scope="session")

APPLIED = "SELECT version, name, applied_at FROM schema_migrations"


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql, encoding="utf-8")
    return folder


async def test_open_creates_folders_and_applies_migrations_once(db_path: Path) -> None:
    assert not db_path.parent.exists()
    async with await Database.open(db_path) as db:
        rows = [tuple(r) for r in await db.fetchall(APPLIED)]
        packaged = [(m.version, m.name) for m in load_migrations(default_migrations())]
        assert [(v, n) for v, n, _ in rows] == packaged and packaged[0] == (1, "init")
        assert await db.schema_version() == packaged[-1][0]
    async with await Database.open(db_path) as db:
        again = [tuple(r) for r in await db.fetchall(APPLIED)]
        assert again == rows  # not re-applied: same applied_at
        assert await db.migrate(default_migrations()) == []


async def test_pragmas(db: Database) -> None:
    assert await db.fetchval("PRAGMA journal_mode") == "wal"
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    assert await db.fetchval("PRAGMA synchronous") == 2  # FULL: a committed delete survives a power cut
    assert await db.fetchval("PRAGMA busy_timeout") == 5000
    with pytest.raises(sqlite3.IntegrityError):  # foreign keys really are enforced
        await db.execute(
            "INSERT INTO job_outputs (job_id, idx, media, seed, width, height) VALUES (999, 0, ?, 1, 1, 1)",
            ("0" * 64,),
        )


async def test_packaged_migrations_are_found() -> None:
    names = [m.filename for m in load_migrations(default_migrations())]
    assert names[0] == "0001_init.sql"


async def test_failed_migration_rolls_back_and_names_the_file(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_first.sql": "CREATE TABLE a (x INTEGER);",
            "0002_broken.sql": "CREATE TABLE b (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
        },
    )
    path = tmp_path / "db.sqlite3"
    with pytest.raises(MigrationError, match=r"0002_broken\.sql"):
        await Database.open(path, migrations=folder)
    with sqlite3.connect(path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        versions = [r[0] for r in raw.execute("SELECT version FROM schema_migrations")]
    assert "a" in tables and "b" not in tables
    assert versions == [1]

    (folder / "0002_broken.sql").write_text("CREATE TABLE b (x INTEGER);", encoding="utf-8")
    async with await Database.open(path, migrations=folder) as db:
        assert await db.schema_version() == 2
        assert await db.fetchval("SELECT COUNT(*) FROM b") == 0


async def test_foreign_keys_off_migration_is_checked(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0001_first.sql": "CREATE TABLE p (id INTEGER PRIMARY KEY);\n"
            "CREATE TABLE c (p INTEGER REFERENCES p (id));",
            "0002_rebuild.sql": "-- migrate: foreign_keys=off\nINSERT INTO c VALUES (7);",
        },
    )
    with pytest.raises(MigrationError, match=r"0002_rebuild\.sql.*foreign_key_check"):
        await Database.open(tmp_path / "db.sqlite3", migrations=folder)
    (folder / "0002_rebuild.sql").write_text(
        "-- migrate: foreign_keys=off\nCREATE TABLE c2 (p INTEGER REFERENCES p (id));\n"
        "INSERT INTO c2 SELECT p FROM c;\nDROP TABLE c;\nALTER TABLE c2 RENAME TO c;",
        encoding="utf-8",
    )
    async with await Database.open(tmp_path / "db.sqlite3", migrations=folder) as db:
        assert await db.fetchval("PRAGMA foreign_keys") == 1  # switched back on


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    files = {"0001_a.sql": "CREATE TABLE a (x);", "0002_b.sql": "SELECT 2;"}
    folder = write_migrations(tmp_path / "m", files)
    path = tmp_path / "db.sqlite3"
    async with await Database.open(path, migrations=folder):
        pass
    (folder / "0002_b.sql").unlink()
    with pytest.raises(MigrationError, match="newer than this code"):
        await Database.open(path, migrations=folder)


async def test_badly_named_migration_is_rejected(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", {"1_init.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match=r"1_init\.sql"):
        await Database.open(tmp_path / "db.sqlite3", migrations=folder)


async def test_transaction_commits_or_rolls_back(db: Database) -> None:
    await db.execute("CREATE TABLE t (x INTEGER)")
    async with db.transaction():
        await db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await db.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")
    assert [r[0] for r in await db.fetchall("SELECT x FROM t")] == [1]


async def test_nested_transaction_uses_a_savepoint(db: Database) -> None:
    await db.execute("CREATE TABLE t (x INTEGER)")
    async with db.transaction():
        await db.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError):
            async with db.transaction():
                await db.execute("INSERT INTO t VALUES (2)")
                raise ValueError("inner only")
        async with db.transaction():
            await db.execute("INSERT INTO t VALUES (3)")
    assert [r[0] for r in await db.fetchall("SELECT x FROM t ORDER BY x")] == [1, 3]


async def test_other_tasks_wait_for_an_open_transaction(db: Database) -> None:
    await db.execute("CREATE TABLE t (x INTEGER)")
    inside = asyncio.Event()
    seen: list[int] = []

    async def writer() -> None:
        async with db.transaction():
            await db.execute("INSERT INTO t VALUES (1)")
            inside.set()
            await asyncio.sleep(0.05)
            await db.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("roll it all back")

    async def reader() -> None:
        await inside.wait()
        # Without the lock this would see the uncommitted row (same connection).
        seen.append(await db.fetchval("SELECT COUNT(*) FROM t"))

    results = await asyncio.gather(writer(), reader(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert seen == [0]


async def test_cancelled_transaction_rolls_back_and_frees_the_connection(db: Database) -> None:
    await db.execute("CREATE TABLE t (x INTEGER)")
    inside = asyncio.Event()

    async def stuck() -> None:
        async with db.transaction():
            await db.execute("INSERT INTO t VALUES (1)")
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.fetchval("SELECT COUNT(*) FROM t") == 0
    async with db.transaction():  # not left inside a transaction
        await db.execute("INSERT INTO t VALUES (2)")
    assert await db.fetchval("SELECT COUNT(*) FROM t") == 1


async def test_media_references_list_matches_the_schema(db: Database) -> None:
    """MEDIA_REFERENCES is the one place that lists who uses media; it must not drift."""
    tables = [r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")]
    found = set()
    for table in tables:
        for fk in await db.fetchall("SELECT * FROM pragma_foreign_key_list(?)", (table,)):
            if fk["table"] == "media":
                found.add((table, fk["from"]))
    assert found == set(MEDIA_REFERENCES)


async def test_hot_queries_use_their_indexes(db: Database) -> None:
    """The queue queries must stay on their partial indexes (INDEXED BY fails if one vanishes)."""
    for sql, params, expected in [
        (jobs_module._HEADS, {"default": None}, {"jobs_queued_by_user"}),
        (jobs_module._COUNT_ACTIVE, (1,), {"jobs_by_user_status", "jobs_queued"}),
        (jobs_module._QUEUE_SNAPSHOT, {"default": None}, {"jobs_running", "jobs_queued"}),
    ]:
        plan = " | ".join(r[3] for r in await db.fetchall("EXPLAIN QUERY PLAN " + sql, params))
        used = {word for word in plan.replace("(", " ").split() if word.startswith("jobs_")}
        assert expected <= used, plan
