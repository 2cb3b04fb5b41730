"""One SQLite connection (aiosqlite), numbered migrations and explicit transactions.

Why one connection and a lock: every coroutine shares the connection, so without the lock a
statement from task B would silently join (and be rolled back with) task A's open transaction.
The lock is held by one *task* at a time and is re-entrant for that task; helpers called by the
holder run directly, everyone else waits. Consequence: never await another task that uses the
database while holding the lock (``locked()``/``transaction()``) — that deadlocks.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Self

import aiosqlite

from storage.errors import MigrationError
from storage.filelock import exclusive_lock
from storage.permissions import FILE_MODE, create_private_file, make_private_dirs, tighten

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]

MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# A migration whose first line is this runs with foreign keys off (needed to rebuild a table in
# SQLite) and must leave ``PRAGMA foreign_key_check`` clean before it commits.
NO_FOREIGN_KEYS_MARKER = "-- migrate: foreign_keys=off"

# synchronous=FULL: in WAL mode NORMAL lets a power cut undo the last commits, and every delete
# here unlinks its files right after the commit (see storage.media_rows), so an undone delete would
# bring back rows whose files are gone. FULL fsyncs the WAL at each commit; the bot commits a few
# times per job, which costs nothing next to a generation.
SYNCHRONOUS = "FULL"
# This connection's own settings; busy_timeout first, so everything after it waits for a writer.
PRAGMAS = (
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA synchronous={SYNCHRONOUS}",
)
# Stored in the database file; switching to WAL needs the database to itself, so it runs under
# the migration lock (two processes switching at once get "database is locked").
JOURNAL_PRAGMA = "PRAGMA journal_mode=WAL"
# SQLite gives these the database file's own mode when it creates them.
SIDE_FILES = ("-wal", "-shm", "-journal")
# Beside the database: held while one process checks and applies the migrations (storage.filelock).
LOCK_SUFFIX = ".migrate.lock"
# How long a process waits for another one's migrations before it gives up and names the holder:
# every migration so far takes well under a second; a minute means that process is stuck.
MIGRATION_LOCK_TIMEOUT = 60.0


class ExecResult(NamedTuple):
    rowcount: int
    lastrowid: int | None


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    filename: str
    sql: str

    @property
    def foreign_keys_off(self) -> bool:
        return self.sql.lstrip().startswith(NO_FOREIGN_KEYS_MARKER)


def default_migrations() -> Traversable:
    """The packaged ``storage/migrations`` folder (works from a wheel as well as a checkout)."""
    return resources.files("storage").joinpath("migrations")


def load_migrations(source: Traversable | Path) -> list[Migration]:
    """All ``NNNN_name.sql`` files in version order; duplicate versions are a programming error."""
    found: dict[int, Migration] = {}
    for entry in source.iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if not match:
            if entry.name.endswith(".sql"):
                raise MigrationError(entry.name, "name must look like 0001_some_name.sql")
            continue
        version = int(match.group(1))
        if version in found:
            raise MigrationError(entry.name, f"version {version} also used by {found[version].filename}")
        found[version] = Migration(version, match.group(2), entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


class Database:
    """Async SQLite handle. Open with ``await Database.open(path)`` or ``async with``."""

    def __init__(
        self, conn: aiosqlite.Connection, path: Path, *, lock_timeout: float = MIGRATION_LOCK_TIMEOUT
    ) -> None:
        self._conn = conn
        self.path = path
        self.lock_timeout = lock_timeout
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._lock_depth = 0
        self._tx_depth = 0
        self._savepoints = 0

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        migrations: Traversable | Path | None = None,
        lock_timeout: float | None = None,
    ) -> Database:
        """Connect, set PRAGMAs and apply pending migrations. Missing parent folders are created
        0700; the file is created 0600 before SQLite opens it (and an older, looser one tightened).

        Processes opening one database at once (a setup script's CLI calls, the bot and a CLI after
        an upgrade) take turns on the migration lock: the first migrates, the others then find
        nothing to do. One that waits over ``lock_timeout`` seconds (default
        ``MIGRATION_LOCK_TIMEOUT``) raises ``LockTimeout`` naming the holder."""
        path = Path(path)
        make_private_dirs(path.parent)
        create_private_file(path)
        for suffix in SIDE_FILES:
            tighten(path.with_name(path.name + suffix), FILE_MODE)
        # isolation_level=None: the sqlite3 module must not open transactions behind our back.
        conn = await aiosqlite.connect(path, isolation_level=None)
        db = cls(conn, path, lock_timeout=MIGRATION_LOCK_TIMEOUT if lock_timeout is None else lock_timeout)
        try:
            conn.row_factory = aiosqlite.Row
            for pragma in PRAGMAS:
                await conn.execute_fetchall(pragma)
            async with db._migration_lock():
                await conn.execute_fetchall(JOURNAL_PRAGMA)
                await db._check_pragmas()
                await db._migrate_locked(default_migrations() if migrations is None else migrations)
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        async with self.locked():
            await self._conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _check_pragmas(self) -> None:
        mode = next(iter(await self._conn.execute_fetchall("PRAGMA journal_mode")))[0]
        if mode != "wal":
            log.warning("journal_mode is %s, not wal (in-memory or unsupported file system)", mode)
        if next(iter(await self._conn.execute_fetchall("PRAGMA foreign_keys")))[0] != 1:
            raise RuntimeError("this SQLite build cannot enforce foreign keys")

    # -- locking and transactions ----------------------------------------------------------

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """Hold the connection for the current task (re-entrant); no transaction is opened.

        Used to keep work that must follow a commit (deleting files) from interleaving with
        another task's transaction.
        """
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        async with self._lock:
            self._owner, self._lock_depth = task, 1
            try:
                yield
            finally:
                self._owner, self._lock_depth = None, 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; ``ROLLBACK`` on any exception (cancellation too).

        Nesting is allowed and uses a SAVEPOINT: an exception inside the inner block rolls back
        only the inner block (if the outer block catches it). IMMEDIATE takes the write lock up
        front, so another process (the CLI) waits on ``busy_timeout`` instead of failing mid-way.
        """
        async with self.locked():
            if self._tx_depth:
                self._savepoints += 1
                name = f"sp_{self._savepoints}"
                await self._raw(f"SAVEPOINT {name}")
                self._tx_depth += 1
                try:
                    yield
                except BaseException:
                    await self._raw(f"ROLLBACK TO {name}")
                    await self._raw(f"RELEASE {name}")
                    raise
                else:
                    await self._raw(f"RELEASE {name}")
                finally:
                    self._tx_depth -= 1
                return
            committed = False
            self._tx_depth = 1
            try:
                await self._raw("BEGIN IMMEDIATE")
                yield
                await self._raw("COMMIT")
                committed = True
            finally:
                self._tx_depth = 0
                self._savepoints = 0
                if not committed:
                    await self._rollback_quietly()

    async def _rollback_quietly(self) -> None:
        # BEGIN may not have run (cancelled before it) — then there is nothing to roll back.
        try:
            await self._raw("ROLLBACK")
        except sqlite3.OperationalError as err:
            if "no transaction is active" not in str(err):
                log.exception("rollback failed")

    async def _raw(self, sql: str) -> None:
        await self._conn.execute_fetchall(sql)

    # -- helpers ---------------------------------------------------------------------------

    async def execute(self, sql: str, params: Params = ()) -> ExecResult:
        async with self.locked(), self._conn.execute(sql, params) as cur:
            return ExecResult(cur.rowcount, cur.lastrowid)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        async with self.locked(), self._conn.executemany(sql, rows) as cur:
            return cur.rowcount

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """All rows in one round trip to the connection thread (also for ``… RETURNING``)."""
        async with self.locked():
            return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        """First row or None; fetches all rows, so give multi-row queries a ``LIMIT 1``."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def checkpoint(self, why: str) -> bool:
        """Copy the WAL into the database file and truncate it, so old page images (a deleted
        row's embedding) do not linger in the WAL. Best effort: a reader in another process
        blocks a full checkpoint; that and any error are logged. True when it completed."""
        try:
            row = await self.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception:
            log.exception("WAL checkpoint after %s failed", why)
            return False
        if row is not None and row[0]:
            log.warning("WAL checkpoint after %s was blocked by a reader; it completes later", why)
            return False
        return True

    # -- migrations ------------------------------------------------------------------------

    async def schema_version(self) -> int:
        return int(await self.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") or 0)

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + LOCK_SUFFIX)

    def _migration_lock(self) -> AbstractAsyncContextManager[None]:
        return exclusive_lock(self.lock_path, timeout=self.lock_timeout, purpose="migrating the database")

    async def migrate(self, source: Traversable | Path) -> list[str]:
        """Apply pending migrations in order, each in its own transaction; returns file names.

        Under the migration lock, and what is applied is read only once it is held: a version
        read before would let two processes apply the same file (the second one failing)."""
        async with self._migration_lock():
            return await self._migrate_locked(source)

    async def _migrate_locked(self, source: Traversable | Path) -> list[str]:
        migrations = load_migrations(source)
        async with self.locked():
            await self._raw(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            applied = {int(r[0]) for r in await self.fetchall("SELECT version FROM schema_migrations")}
            known = {m.version for m in migrations}
            if applied and max(applied) > max(known, default=0):
                raise MigrationError(
                    f"{max(applied):04d}_*.sql",
                    f"database schema version {max(applied)} is newer than this code "
                    f"({max(known, default=0)}); refusing to run an old version on it",
                )
            done: list[str] = []
            for migration in migrations:
                if migration.version in applied:
                    continue
                await self._apply(migration, max(applied, default=0))
                applied.add(migration.version)
                done.append(migration.filename)
                log.info("applied migration %s", migration.filename)
            return done

    async def _apply(self, migration: Migration, current: int) -> None:
        fk_off = migration.foreign_keys_off
        if fk_off:
            await self._raw("PRAGMA foreign_keys=OFF")
        try:
            # executescript runs the file's statements verbatim (the only non-parameterised SQL
            # here: it is our own DDL). BEGIN goes in the same script so nothing autocommits.
            await self._conn.executescript("BEGIN IMMEDIATE;\n" + migration.sql)
            if fk_off:
                problems = await self.fetchall("PRAGMA foreign_key_check")
                if problems:
                    raise sqlite3.IntegrityError(f"foreign_key_check found {len(problems)} violation(s)")
            await self.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            await self._raw("COMMIT")
        except BaseException as err:
            await self._rollback_quietly()
            if isinstance(err, sqlite3.Error):
                raise MigrationError(
                    migration.filename,
                    f"{type(err).__name__}: {err} (rolled back; the schema stays at version {current})",
                ) from err
            raise
        finally:
            if fk_off:
                await self._raw("PRAGMA foreign_keys=ON")
