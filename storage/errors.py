"""Storage errors. ``storage`` must not depend on ``bot``, so these have their own base class;
the bot maps them to user-facing messages (``str(err)`` is already written for a person)."""

from __future__ import annotations

from typing import Literal

QueueFullKind = Literal["user", "total"]


class StorageError(Exception):
    """Base class for everything the storage layer raises on purpose."""


class MigrationError(StorageError):
    """A migration failed (it was rolled back) or the database is newer than this code."""

    def __init__(self, filename: str, message: str) -> None:
        super().__init__(f"migration {filename}: {message}")
        self.filename = filename


class QueueFull(StorageError):
    """A queue limit would be exceeded; nothing was written."""

    def __init__(self, kind: QueueFullKind, limit: int, current: int) -> None:
        if kind == "user":
            message = (
                f"You already have {current} job(s) waiting or running (limit {limit}); "
                "wait for one to finish or cancel one."
            )
        else:
            message = f"The queue is full ({current} job(s) waiting, limit {limit}); try again later."
        super().__init__(message)
        self.kind: QueueFullKind = kind
        self.limit = limit
        self.current = current
