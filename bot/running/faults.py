"""What the dispatcher makes of storage and worker faults: transient or not, what to tell the
job's owner and the ``/queue`` reader, and how long to wait before the next try.

SQLite reports a write lock held elsewhere (the CLI, a backup) as ``SQLITE_BUSY``/``SQLITE_LOCKED``
after the busy timeout: that passes, so the same write is tried again. A full disk (``ENOSPC``
from a media write, ``SQLITE_FULL``) or any other I/O error does not pass by itself.
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.errors import ModelsNotLoaded
from bot.explain import explain
from storage import StorageError

BACKOFF_FIRST = 0.5  # seconds before the first retry; doubles up to BACKOFF_MAX
BACKOFF_MAX = 30.0

_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_FULL = ("SQLITE_FULL",)
_STORAGE_ERRORS = (OSError, sqlite3.Error, StorageError)


def is_transient(exc: BaseException) -> bool:
    """Another connection holds the database: the same write succeeds once it lets go."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    name = getattr(exc, "sqlite_errorname", "")
    return any(name.startswith(code) for code in _BUSY) or "database is locked" in str(exc)


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorname", "") in _FULL or "database or disk is full" in str(exc)
    return False


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, _STORAGE_ERRORS)


def not_saved_message(exc: BaseException) -> str:
    """For the owner of a job whose results could not be stored (lower-case, says what to do)."""
    explained = explain(exc) if isinstance(exc, StorageError) else None
    if explained is not None:
        return explained.message
    if is_disk_full(exc):
        cause = "its disk is full"
    elif is_transient(exc):
        cause = "its database stayed locked by another program"
    else:
        cause = "its storage failed"
    return f"the bot could not save the results: {cause}. The log tells the operator; try again later"


def down_reason(exc: BaseException) -> str:
    """Why the worker is not taking jobs, short enough for one line of ``/queue``."""
    if isinstance(exc, ModelsNotLoaded):
        return "the models could not be loaded"
    if is_transient(exc):
        return "the database is locked by another program"
    if is_disk_full(exc):
        return "the disk is full"
    if is_storage_error(exc):
        return "storage is failing"
    return "an unexpected error"


@dataclass(frozen=True, slots=True)
class Health:
    """The worker is down: why, and since when (UTC)."""

    reason: str
    since: datetime

    @classmethod
    def down(cls, reason: str, before: Health | None) -> Health:
        """Keep the original time while the worker stays down, whatever the current reason."""
        return cls(reason, before.since if before is not None else datetime.now(UTC))


class Backoff:
    """Delays that double from ``first`` to ``cap``; ``reset`` after a good try."""

    def __init__(self, first: float = BACKOFF_FIRST, cap: float = BACKOFF_MAX) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first
