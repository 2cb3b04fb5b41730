"""An exclusive lock between processes on one file, waited for with a bound.

Why a lock file and not ``BEGIN IMMEDIATE``: some migrations run with foreign keys off, and
``PRAGMA foreign_keys`` cannot change inside a transaction, so no single transaction can hold the
database across every migration; ``PRAGMA journal_mode=WAL`` also needs the database to itself.
The lock is ``flock`` (POSIX) or ``msvcrt.locking`` (Windows): the kernel drops it when its holder
exits, however it exits, so a crash never leaves a stale lock. The file stays in place (unlinking
it would let a waiter lock a file nobody else sees); while held it names its holder, so a waiter
that gives up can say who it waited for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from storage.errors import LockTimeout
from storage.permissions import create_private_file

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
# Windows locks bytes, and a locked byte cannot be read by others: lock one far past the holder's note.
_WINDOWS_LOCK_OFFSET = 1 << 20

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@asynccontextmanager
async def exclusive_lock(path: Path, *, timeout: float, purpose: str) -> AsyncIterator[None]:
    """Hold ``path`` (created 0600) exclusively for the block, against every other process and
    every other open of it in this one. Waits up to ``timeout`` seconds without blocking the event
    loop, then raises ``LockTimeout`` naming the holder. ``purpose`` is written for that message."""
    path = Path(path)
    create_private_file(path)
    fd = os.open(path, os.O_RDWR)
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while not _try_lock(fd):
            if not waited:
                log.info("waiting for %s (%s)", path, _holder(path) or "holder unknown")
                waited = True
            if time.monotonic() >= deadline:
                raise LockTimeout(str(path), timeout, _holder(path))
            await asyncio.sleep(POLL_SECONDS)
        try:
            _write_note(fd, purpose)
            yield
        finally:
            _write_note(fd, "")
            _unlock(fd)
    finally:
        os.close(fd)


def _write_note(fd: int, purpose: str) -> None:
    """Say who holds the lock (empty when released), best effort: the lock works without it."""
    note = ""
    if purpose:
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        note = f"pid {os.getpid()} on {socket.gethostname()}, {purpose}, since {since}\n"
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, note.encode("utf-8"))
    except OSError:
        log.debug("could not write the holder's note", exc_info=True)


def _holder(path: Path) -> str | None:
    try:
        note = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    return note.splitlines()[0] if note else None
