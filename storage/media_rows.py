"""Keeping media rows and files in step: shared by every repository whose rows reference media.

The write order, everywhere: files first (pinned), then one transaction for the rows, then —
still holding the database — remove files that no row ended up using (``settle``). Deleting is
the mirror image: rows (and media rows nothing references any more) in one transaction, then,
after the commit and still under the database lock, their files (``remove_files``). A crash
between the steps can leave an orphan file (``sweep_orphans`` at start-up) but never a row
without its file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

from storage.db import Database
from storage.disk import check_free
from storage.media import MediaStore, PutResult
from storage.schema import media_unreferenced_sql

log = logging.getLogger(__name__)

FileSpec = tuple[bytes, str]  # (data, extension)
MediaKey = tuple[str, str]  # (sha256, ext) of a media row
P = ParamSpec("P")
T = TypeVar("T")

# Keeps an existing row (first extension wins) but still RETURNs it: the no-op update is what
# makes RETURNING report rows that were already there.
_UPSERT_MEDIA = (
    "INSERT INTO media (sha256, ext, size, created_at) VALUES {values} "
    "ON CONFLICT (sha256) DO UPDATE SET ext = media.ext RETURNING sha256, ext"
)
_DELETE_UNREFERENCED_AMONG = (
    "DELETE FROM media WHERE sha256 IN (SELECT value FROM json_each(?)) AND "
    f"{media_unreferenced_sql()} RETURNING sha256, ext"
)
_DELETE_ALL_UNREFERENCED = f"DELETE FROM media WHERE {media_unreferenced_sql()} RETURNING sha256, ext"


class MediaRows:
    """Media rows plus their files for one ``Database`` and ``MediaStore``."""

    def __init__(self, db: Database, media: MediaStore, *, min_free_bytes: int = 0) -> None:
        """``min_free_bytes``: the free-disk floor every write checks first (0: none)."""
        self._db = db
        self._media = media
        self.min_free_bytes = min_free_bytes

    # -- writing ------------------------------------------------------------------------------

    async def write(self, specs: Sequence[FileSpec], written: list[PutResult]) -> None:
        """Store files pinned, appending to ``written`` as it goes, so the caller's ``settle``
        (in a ``finally``) also covers a partial write or a cancellation. Raises ``DiskFull``
        (nothing written) when the files would take the disk below the free-space floor."""
        if specs:
            await to_thread_to_the_end(self._put_all, specs, written)

    def check_free(self, incoming: int = 0) -> None:
        """``DiskFull`` when ``incoming`` more bytes would take the disk below the floor (a statvfs)."""
        check_free(self._media.root, self.min_free_bytes, incoming)

    def _put_all(self, specs: Sequence[FileSpec], written: list[PutResult]) -> None:
        self.check_free(sum(len(data) for data, _ in specs))
        for data, ext in specs:
            written.append(self._media.pin_put(data, ext))

    async def insert(self, written: Sequence[PutResult], now: float) -> set[MediaKey]:
        """Inside the caller's transaction: insert-or-keep media rows; returns the (sha, ext)
        pairs as stored, so the caller knows which of its files are described without a query."""
        unique = {p.sha256: p for p in written}
        if not unique:
            return set()
        values = ", ".join(["(?, ?, ?, ?)"] * len(unique))
        params = [v for p in unique.values() for v in (p.sha256, p.ext, p.size, now)]
        rows = await self._db.fetchall(_UPSERT_MEDIA.format(values=values), params)
        return {(r[0], r[1]) for r in rows}

    async def settle(self, written: Sequence[PutResult], described: set[MediaKey] | None = None) -> None:
        """After the transaction (committed or not): unpin, and remove files this call created
        that no media row describes. Under the database lock so no commit can slip in between
        the check and the unlink; a file pinned by a concurrent writer is left for it.
        ``described`` is what a committed transaction stored; when it covers every created file
        (the usual success path) no query is needed."""
        if not written:
            return
        # Unpin first, synchronously (no await, so it cannot be skipped by cancellation). Safe:
        # a committed row protects its file, and a concurrent writer holds its own pin.
        for put in written:
            self._media.unpin(put.sha256)
        created = [p for p in written if p.created]
        if described is not None:
            created = [p for p in created if (p.sha256, p.ext) not in described]
        if not created:
            return
        try:
            async with self._db.locked():
                rows = await self._db.fetchall(
                    "SELECT sha256, ext FROM media WHERE sha256 IN (SELECT value FROM json_each(?))",
                    (json.dumps([p.sha256 for p in created]),),
                )
                described = {(r[0], r[1]) for r in rows}
                for put in created:
                    if (put.sha256, put.ext) not in described:
                        self._media.remove_unpinned(put.sha256, put.ext)
        except Exception:
            # Never mask the caller's own error; leftovers are orphans for sweep_orphans.
            log.exception("could not clean up media files %s", [p.sha256 for p in created])

    # -- deleting -----------------------------------------------------------------------------

    async def delete_unreferenced(self, shas: Iterable[str]) -> list[MediaKey]:
        """Inside the caller's transaction, after it deleted its rows: delete those of ``shas``
        whose media rows nothing references any more; returns them for ``remove_files``."""
        candidates = sorted(set(shas))
        if not candidates:
            return []
        rows = await self._db.fetchall(_DELETE_UNREFERENCED_AMONG, (json.dumps(candidates),))
        return [(r[0], r[1]) for r in rows]

    async def delete_all_unreferenced(self) -> list[MediaKey]:
        """Inside the caller's transaction: every media row nothing references."""
        return [(r[0], r[1]) for r in await self._db.fetchall(_DELETE_ALL_UNREFERENCED)]

    async def remove_files(self, removed: Sequence[MediaKey]) -> None:
        """Delete files whose rows were just deleted and committed. The caller holds the database
        lock (``db.locked()`` around its transaction and this call)."""
        if removed:
            await to_thread_to_the_end(self._remove_now, removed)

    def _remove_now(self, removed: Sequence[MediaKey]) -> None:
        for sha, ext in removed:
            self._media.remove_unpinned(sha, ext)

    async def sweep_orphans(self, older_than: float = 600) -> list[Path]:
        """Remove files with no media row (left by a crash between file and row); for start-up."""
        async with self._db.locked():
            known = {r[0] for r in await self._db.fetchall("SELECT sha256 FROM media")}
            return await to_thread_to_the_end(self._media.sweep_orphans, known, older_than)


@contextlib.asynccontextmanager
async def secure_delete(db: Database, why: str) -> AsyncIterator[None]:
    """Hold the database with ``PRAGMA secure_delete`` on: deleted rows (face embeddings, names)
    are overwritten with zeros instead of lingering in free pages. Wrap the transaction (and the
    file removal after it) in it. When the block succeeds, the WAL is checkpointed and truncated,
    since it still holds the pages as they were before the delete (``why`` names it in the log).
    Durable: the commit is fsynced (``synchronous=FULL``) before any file is unlinked."""
    async with db.locked():
        before = int(await db.fetchval("PRAGMA secure_delete") or 0)
        if not before:
            await db.fetchall("PRAGMA secure_delete = 1")
        try:
            yield
        finally:
            if not before:
                await db.fetchall("PRAGMA secure_delete = 0")
        await db.checkpoint(why)


async def to_thread_to_the_end(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``asyncio.to_thread`` that, when cancelled, still waits for the thread before re-raising.

    Cancelling a plain ``to_thread`` leaves the thread running: file writes would then be pinned
    after the caller's clean-up ran, and deletes would run after the database lock was released.
    """
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await future
        raise
