"""Plain frozen rows returned by the repositories: safe to pass between tasks and threads."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

P = TypeVar("P")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATUSES


FINISHED_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
"""Waiting or running: what the per-user limit counts and /cancel can reach."""


class JobOrigin(StrEnum):
    COMMAND = "command"
    REROLL = "reroll"
    VARY = "vary"
    FIX_FACE = "fix_face"
    SUGGESTION = "suggestion"  # /describe's Use N buttons
    REFRAME = "reframe"  # Zoom out and the pans: an outpaint of one output
    EDIT = "edit"  # Edit prompt: the job again with new text
    UPSCALE = "upscale"  # an output's Upscale buttons


class CancelOutcome(StrEnum):
    CANCELLED_QUEUED = "cancelled_queued"  # it never ran; now 'cancelled'
    CANCEL_RUNNING = "cancel_running"  # still 'running': interrupt the worker, which calls mark_cancelled
    NOT_FOUND = "not_found"
    NOT_OWNER = "not_owner"
    ALREADY_FINISHED = "already_finished"


class ParamsCodec(Protocol[P]):
    """How a job's parameters become columns of ``jobs`` and back. The bot defines its record; the
    storage layer stores the columns without knowing what they mean."""

    columns: tuple[str, ...]

    def encode(self, params: P) -> Mapping[str, Any]: ...
    def decode(self, row: Mapping[str, Any]) -> P: ...


@dataclass(frozen=True, slots=True)
class NewJob(Generic[P]):
    """A job to insert: its parameters, whose it is, and where its result goes. Media, status and
    timestamps are set by the repository."""

    user_id: int
    params: P
    guild_id: int | None = None
    channel_id: int | None = None
    parent_job_id: int | None = None
    origin: JobOrigin = JobOrigin.COMMAND
    character_id: int | None = None  # the character a face-locked job was made for
    application_id: int | None = None
    interaction_token: str | None = field(default=None, repr=False)  # a credential: keep out of logs
    token_expires_at: float | None = None
    message_id: int | None = None
    upload_limit: int | None = None  # bytes the queuing interaction may upload
    api_key_id: int | None = None  # the API key that queued it (None: Discord or the command line)
    webhook_url: str | None = field(default=None, repr=False)  # an API job's webhook: may carry a token

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", JobOrigin(self.origin))

    def own_columns(self) -> dict[str, Any]:
        """The insertable columns other than the parameters'."""
        values = {name: getattr(self, name) for name in NEW_JOB_COLUMNS}
        values["origin"] = self.origin.value
        return values


NEW_JOB_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(NewJob) if f.name != "params")


@dataclass(frozen=True, slots=True)
class JobRow(Generic[P]):
    """One ``jobs`` row: the job's parameters (decoded by the codec) and the queue's own columns;
    ``warnings`` decoded from its JSON list."""

    id: int
    user_id: int
    guild_id: int | None
    channel_id: int | None
    status: JobStatus
    params: P
    input_media: str | None
    mask_media: str | None
    parent_job_id: int | None
    origin: JobOrigin
    application_id: int | None
    interaction_token: str | None = field(repr=False)
    token_expires_at: float | None
    message_id: int | None
    attempts: int
    error: str | None
    warnings: tuple[str, ...]
    cancel_requested_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    engine_seconds: float | None
    delivered_at: float | None
    result_message_id: int | None
    result_channel_id: int | None
    character_id: int | None = None
    tries: int | None = None  # generation rounds run, set by mark_done
    upload_limit: int | None = None
    api_key_id: int | None = None
    webhook_url: str | None = field(default=None, repr=False)
    structure_media: str | None = None  # the structure map a ControlNet read, stored with the outputs
    suggestions: tuple[str, ...] = ()  # a /describe job's prompts, decoded from their JSON list

    @property
    def for_discord(self) -> bool:
        """Whether its result goes to Discord (an API job's is fetched or sent to its webhook)."""
        return self.api_key_id is None

    @classmethod
    def from_row(cls, row: sqlite3.Row | Mapping[str, Any], codec: ParamsCodec[P]) -> JobRow[P]:
        values = {name: row[name] for name in JOB_COLUMNS}
        values["status"] = JobStatus(values["status"])
        values["origin"] = JobOrigin(values["origin"])
        values["warnings"] = tuple(json.loads(values["warnings"] or "[]"))
        values["suggestions"] = tuple(json.loads(values["suggestions"] or "[]"))
        return cls(params=codec.decode(_columns(row)), **values)


def _columns(row: sqlite3.Row | Mapping[str, Any]) -> Mapping[str, Any]:
    """A row as the codec's mapping (an ``sqlite3.Row`` indexes by name but is no ``Mapping``)."""
    return row if isinstance(row, Mapping) else dict(zip(row.keys(), row, strict=True))


JOB_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(JobRow) if f.name != "params")
"""The queue's own columns of ``jobs``; the parameters' come from the codec."""


@dataclass(frozen=True, slots=True)
class OutputRow:
    """One output image of a job; ``ext`` comes from its media row, so ``MediaStore.path`` works."""

    job_id: int
    idx: int
    media: str
    ext: str
    seed: int
    width: int
    height: int
    identity: float | None = None  # the face's cosine to the job's character; None: no face / unscored
    nsfw: float | None = None  # the NSFW classifier's score; None: not checked


class OutputData(NamedTuple):
    """One output image handed to ``mark_done``."""

    data: bytes
    seed: int
    width: int
    height: int
    identity: float | None = None
    nsfw: float | None = None


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """A job's place in line: running jobs have position 0, queued ones 1..N in pick order."""

    job_id: int
    user_id: int
    status: JobStatus
    position: int


@dataclass(frozen=True, slots=True)
class CancelResult(Generic[P]):
    outcome: CancelOutcome
    job: JobRow[P] | None  # None for NOT_FOUND and NOT_OWNER (don't reveal other users' jobs)
