"""The one place that turns an expected error into what its user reads, for every entry point.

Slash commands, buttons, the command line, a failed job's message (and later the HTTP API) all ask
``explain``; so a refusal reads the same wherever it happens. The voice: lower case, what is wrong,
then what to do. Storage's errors carry facts (limits, counts, names); the words are written here.
``None`` means the error is a bug: log it with its traceback and say only that something went wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.errors import LikenessError
from storage import (
    CharacterChanged,
    CharacterNotFound,
    DailyQuotaReached,
    DiskFull,
    DuplicateImage,
    InvalidName,
    NameTaken,
    QueueFull,
    QuotaExceeded,
    ReferenceNotFound,
    SetFull,
    TooManyCharacters,
    UserBusy,
)


@dataclass(frozen=True, slots=True)
class Explained:
    code: str  # the kind, stable for programs
    message: str  # for the person who asked


def explain(exc: BaseException) -> Explained | None:
    """The user's message for an expected error; None for a bug."""
    if isinstance(exc, LikenessError):
        return Explained(exc.code, str(exc))
    for kind in type(exc).__mro__:
        entry = _STORAGE.get(kind)
        if entry is not None:
            code, write = entry
            return Explained(code, write(exc))
    return None


def bug_message(reference: int | str) -> str:
    """For the user when ``explain`` says it is a bug (the log has the traceback under ``reference``)."""
    return f"something went wrong on our side (reference {reference}); it has been logged"


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _mb(size: int) -> str:
    """Whole MB (2**20 bytes), rounded up, so "over the limit" never reads as "500 MB of 500 MB"."""
    return f"{-(-size // 2**20)} MB"


def _queue_full(exc: QueueFull) -> str:
    if exc.kind == "total":
        return f"the queue is full ({exc.current} jobs waiting): try again in a few minutes"
    jobs = f"{_plural(exc.current, 'job')} waiting or running"
    if exc.in_flight:
        analyses = f"{_plural(exc.in_flight, 'face analysis', 'face analyses')} in progress"
        return (
            f"you already have {jobs} and {analyses} (the limit is {exc.limit} in all): "
            "wait for one to finish or /cancel a job"
        )
    return f"you already have {jobs} (the limit is {exc.limit}): wait for one to finish or /cancel one"


def _quota(exc: QuotaExceeded) -> str:
    if exc.adding and exc.stored <= exc.limit:
        head = f"this would bring the images you store to {_mb(exc.stored + exc.adding)}"
    else:
        head = f"you store {_mb(exc.stored)} of images"
    return (
        f"{head}, over this bot's limit of {_mb(exc.limit)} per user: delete old results with their "
        "Delete button, prune reference images, or use /forget-me"
    )


def _daily(exc: DailyQuotaReached) -> str:
    whose = "this bot's" if exc.guild_id is None else "this server's"
    resets = datetime.fromtimestamp(exc.resets_at, UTC).strftime("%H:%M UTC on %Y-%m-%d")
    return (
        f"you have used {whose} daily quota of {_plural(exc.limit, 'job')} (the day is counted in UTC, "
        f"across Discord and the API): it resets at {resets}; failed and cancelled jobs are given back"
    )


def _disk(exc: DiskFull) -> str:
    mb = 2**20
    state = (
        f"has only {exc.free // mb} MB free, under"
        if exc.free < exc.floor
        else f"has {exc.free // mb} MB free, and storing this would take it under"
    )
    return (
        f"the bot's disk {state} its floor of {exc.floor // mb} MB: "
        "nothing new can be stored until the operator frees space"
    )


def _busy(exc: UserBusy) -> str:
    ids = ", ".join(f"#{i}" for i in exc.running_job_ids)
    if len(exc.running_job_ids) == 1:
        return f"your job {ids} is still running: cancel it or let it finish, then try again"
    return f"your jobs {ids} are still running: cancel them or let them finish, then try again"


def _character_not_found(exc: CharacterNotFound) -> str:
    if exc.name is None:
        return "that character doesn't exist any more"
    return f"you have no character called “{exc.name}”: /character list shows yours"


def _reference_not_found(exc: ReferenceNotFound) -> str:
    if exc.number is None:
        return f"that image is no longer part of “{exc.character}”"
    return f"“{exc.character}” has no image number {exc.number} (it has {exc.count})"


def _invalid_name(exc: InvalidName) -> str:
    if exc.reason == "length":
        return f"a character name must be 1–{exc.limit} characters long"
    return "a character name can't contain line breaks or control characters"


_STORAGE: dict[type[BaseException], tuple[str, Callable[[Any], str]]] = {
    QueueFull: ("queue_full", _queue_full),
    QuotaExceeded: ("quota_exceeded", _quota),
    DailyQuotaReached: ("daily_quota", _daily),
    DiskFull: ("disk_full", _disk),
    UserBusy: ("user_busy", _busy),
    CharacterNotFound: ("not_found", _character_not_found),
    ReferenceNotFound: ("not_found", _reference_not_found),
    InvalidName: ("invalid_request", _invalid_name),
    NameTaken: ("name_taken", lambda e: f"you already have a character called “{e.existing}”"),
    TooManyCharacters: (
        "too_many_characters",
        lambda e: f"you already have {e.limit} characters, the most allowed: delete one first",
    ),
    SetFull: (
        "set_full",
        lambda e: (
            f"“{e.character}” already has {e.limit} images, the most a character can have: remove one first"
        ),
    ),
    DuplicateImage: (
        "duplicate_image",
        lambda e: f"that image is already in “{e.character}” (number {e.number})",
    ),
    CharacterChanged: (
        "character_changed",
        lambda e: f"“{e.character}” changed while this was being worked on: try again",
    ),
}
