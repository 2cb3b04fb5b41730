"""Builders shared by the storage tests (plain functions, so tests can import them)."""

from __future__ import annotations

from pathlib import Path

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


def new_job(user_id: int = 1, **overrides: object) -> NewJob:
    values: dict[str, object] = {
        "user_id": user_id,
        "mode": "text",
        "prompt": f"a portrait for {user_id}",
        "cfg": 7.0,
        "steps": 30,
        "seed": 42,
        "candidates": 1,
        "image_weight": 0.6,
        "aspect": "1:1",
    }
    values.update(overrides)
    return NewJob(**values)  # type: ignore[arg-type]


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
