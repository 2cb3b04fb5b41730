"""Builders shared by the storage tests (plain functions, so tests can import them)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from bot.params import PARAMS_CODEC, FaceLock, JobParams, Mode
from storage import Database, JobRepository, JobRow, MediaStore, NewJob

BIG = 10_000  # a limit that never triggers


class FakeClock:
    """Unix seconds that only move when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


_JOB_FIELDS = {f.name for f in fields(NewJob)}


def repository(db: Database, media: MediaStore, **options: object) -> JobRepository[JobParams]:
    """The job repository with the bot's own parameter columns (what the migrations create)."""
    return JobRepository(db, media, params=PARAMS_CODEC, **options)  # type: ignore[arg-type]


def new_job(user_id: int = 1, *, face: FaceLock | None = None, **overrides: object) -> NewJob[JobParams]:
    """A job for ``user_id``; an override is a ``NewJob`` field or a parameter (``mode`` by name)."""
    job = {k: v for k, v in overrides.items() if k in _JOB_FIELDS}
    params: dict[str, object] = {"prompt": f"a portrait for {user_id}", "steps": 30, "seed": 42, "cfg": 7.0}
    params.update((k, v) for k, v in overrides.items() if k not in _JOB_FIELDS)
    params["mode"] = Mode(params.get("mode", "text"))
    return NewJob(user_id=user_id, params=JobParams(**params, face=face), **job)  # type: ignore[arg-type]


async def add(
    repo: JobRepository,
    user_id: int = 1,
    *,
    input: tuple[bytes, str] | None = None,
    mask: tuple[bytes, str] | None = None,
    per_user_limit: int = BIG,
    total_limit: int = BIG,
    in_flight: int = 0,
    max_stored_bytes: int | None = None,
    **overrides: object,
) -> JobRow:
    extra: dict[str, int] = {"in_flight": in_flight} if in_flight else {}
    if max_stored_bytes is not None:
        extra["max_stored_bytes"] = max_stored_bytes
    return await repo.create_job(
        new_job(user_id, **overrides),
        input,
        mask,
        per_user_limit=per_user_limit,
        total_limit=total_limit,
        **extra,
    )


def media_files(media: MediaStore) -> set[Path]:
    """Every file under the media root (temp files included)."""
    if not media.root.exists():
        return set()
    return {p for p in media.root.rglob("*") if p.is_file()}


async def count(db: Database, table: str) -> int:
    assert table in {"jobs", "media", "job_outputs", "user_last_served"}
    return int(await db.fetchval(f"SELECT COUNT(*) FROM {table}"))
