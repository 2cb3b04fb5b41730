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

    def __init__(self, kind: QueueFullKind, limit: int, current: int, in_flight: int = 0) -> None:
        """``current`` counts jobs; ``in_flight`` is the user's other work counted against the
        per-user limit (the bot's face analyses, which never enter the queue)."""
        if kind == "user":
            also = f" and {in_flight} face analysis(es) in progress" if in_flight else ""
            message = (
                f"You already have {current} job(s) waiting or running{also} (limit {limit}); "
                "wait for one to finish or cancel one."
            )
        else:
            message = f"The queue is full ({current} job(s) waiting, limit {limit}); try again later."
        super().__init__(message)
        self.kind: QueueFullKind = kind
        self.limit = limit
        self.current = current
        self.in_flight = in_flight


def _mb(size: int) -> str:
    """Whole MB (2**20 bytes), rounded up, so "over the limit" never reads as "500 MB of 500 MB"."""
    return f"{-(-size // 2**20)} MB"


class QuotaExceeded(StorageError):
    """Storing this would take the user's stored media over their quota; nothing was written.

    What a user stores is the size of every media file their rows reference (job inputs, masks,
    outputs, reference images; ``storage.schema.MEDIA_REFERENCES``); a file two users share
    counts for each."""

    def __init__(self, limit: int, stored: int, adding: int) -> None:
        if adding and stored <= limit:
            head = f"this would bring the images you store to {_mb(stored + adding)}"
        else:
            head = f"you store {_mb(stored)} of images"
        super().__init__(
            f"{head}, over this bot's limit of {_mb(limit)} per user: delete old results with their "
            "Delete button, prune reference images, or use /forget-me"
        )
        self.limit = limit
        self.stored = stored
        self.adding = adding


class DiskFull(StorageError):
    """Writing would take the media folder's disk below the operator's free-space floor
    (``LIKENESS_MIN_FREE_MB``); nothing was written."""

    def __init__(self, free: int, floor: int) -> None:
        state = (
            f"has only {free // 2**20} MB free, under"
            if free < floor
            else f"has {free // 2**20} MB free, and storing this would take it under"
        )
        super().__init__(
            f"the bot's disk {state} its floor of {floor // 2**20} MB: "
            "nothing new can be stored until the operator frees space"
        )
        self.free = free
        self.floor = floor
