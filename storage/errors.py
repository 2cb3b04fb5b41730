"""Every error the storage layer raises on purpose, each carrying the facts of what happened.

``storage`` must not depend on ``bot``, so these have their own base class. They say what happened in
data (limits, counts, names); the bot's one mapper (``bot.explain``) writes the person's message from
it, in the bot's voice, for every entry point alike. ``str(err)`` is a short note for the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

QueueFullKind = Literal["user", "total"]
InvalidNameReason = Literal["length", "control"]


class StorageError(Exception):
    """Base class for everything the storage layer raises on purpose."""


class MigrationError(StorageError):
    """A migration failed (it was rolled back) or the database is newer than this code."""

    def __init__(self, filename: str, message: str) -> None:
        super().__init__(f"migration {filename}: {message}")
        self.filename = filename


class LockTimeout(StorageError):
    """Another process held a lock file longer than this one would wait (a long migration, or a
    process stuck while holding it); ``holder`` is what the holder wrote in the file, if anything."""

    def __init__(self, path: str, waited: float, holder: str | None) -> None:
        who = f"held by {holder}" if holder else "held by another process"
        super().__init__(
            f"gave up after {waited:g} s waiting for {path} ({who}): "
            "let that process finish, or stop it, and try again"
        )
        self.path = path
        self.waited = waited
        self.holder = holder


# -- limits -----------------------------------------------------------------------------------------


class DailyQuotaReached(StorageError):
    """A daily job quota is used up; nothing was written. ``resets_at``: the next UTC midnight (unix
    seconds); ``guild_id``: the server whose cap it is (None: the bot-wide one)."""

    def __init__(self, limit: int, used: int, resets_at: float, guild_id: int | None) -> None:
        super().__init__(f"daily quota reached: {used} of {limit} jobs (guild {guild_id})")
        self.limit = limit
        self.used = used
        self.resets_at = resets_at
        self.guild_id = guild_id


class QueueFull(StorageError):
    """A queue limit would be exceeded; nothing was written.

    ``current`` counts jobs; ``in_flight`` is the user's other work counted against the per-user
    limit (the bot's face analyses, which never enter the queue)."""

    def __init__(self, kind: QueueFullKind, limit: int, current: int, in_flight: int = 0) -> None:
        super().__init__(f"queue full ({kind}): {current} job(s) + {in_flight} analyses, limit {limit}")
        self.kind: QueueFullKind = kind
        self.limit = limit
        self.current = current
        self.in_flight = in_flight


class QuotaExceeded(StorageError):
    """Storing this would take the user's stored media over their quota; nothing was written.

    What a user stores is the size of every media file their rows reference (job inputs, masks,
    outputs, reference images; ``storage.schema.MEDIA_REFERENCES``); a file two users share
    counts for each."""

    def __init__(self, limit: int, stored: int, adding: int) -> None:
        super().__init__(f"quota: {stored} + {adding} bytes over {limit}")
        self.limit = limit
        self.stored = stored
        self.adding = adding


class DiskFull(StorageError):
    """Writing would take the media folder's disk below the operator's free-space floor
    (``LIKENESS_MIN_FREE_MB``); nothing was written."""

    def __init__(self, free: int, floor: int) -> None:
        super().__init__(f"disk floor: {free} bytes free, floor {floor}")
        self.free = free
        self.floor = floor


class UserBusy(StorageError):
    """The user has running jobs; nothing was deleted."""

    def __init__(self, running_job_ids: Sequence[int]) -> None:
        super().__init__(f"user busy: jobs {list(running_job_ids)} running")
        self.running_job_ids = tuple(running_job_ids)


# -- characters -------------------------------------------------------------------------------------


class CharacterError(StorageError):
    """Base for character errors: they name only the acting user's own data."""


class NotFound(CharacterError):
    """Base for "no such character / image" (also what another user's ids look like)."""


class CharacterNotFound(NotFound):
    def __init__(self, name: str | None = None) -> None:
        super().__init__(f"character not found: {name!r}")
        self.name = name


class ReferenceNotFound(NotFound):
    def __init__(self, character: str, count: int, number: int | None = None) -> None:
        super().__init__(f"reference {number} not in {character!r} ({count} images)")
        self.character = character
        self.count = count
        self.number = number


class InvalidName(CharacterError):
    def __init__(self, reason: InvalidNameReason, limit: int) -> None:
        super().__init__(f"invalid character name ({reason})")
        self.reason: InvalidNameReason = reason
        self.limit = limit


class NameTaken(CharacterError):
    def __init__(self, existing: str) -> None:
        super().__init__(f"name taken: {existing!r}")
        self.existing = existing


class TooManyCharacters(CharacterError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"character limit {limit} reached")
        self.limit = limit


class SetFull(CharacterError):
    def __init__(self, character: str, limit: int) -> None:
        super().__init__(f"{character!r} has {limit} images")
        self.character = character
        self.limit = limit


class DuplicateImage(CharacterError):
    def __init__(self, character: str, number: int) -> None:
        super().__init__(f"duplicate of {character!r} #{number}")
        self.character = character
        self.number = number


class CharacterChanged(CharacterError):
    def __init__(self, character: str) -> None:
        super().__init__(f"{character!r} changed concurrently")
        self.character = character
