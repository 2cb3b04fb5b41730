"""Room before writing: queue limits read before any file is written, the per-user stored-bytes quota,
the free-disk floor, and a cancelled job's inputs going at once."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage import (
    CharacterRepository,
    Database,
    DiskFull,
    Embedding,
    JobRepository,
    JobStatus,
    MediaStore,
    OutputData,
    QueueFull,
    QuotaExceeded,
)
from storage.disk import free_bytes
from storage.usage import stored_bytes
from tests.storage.helpers import FakeClock, add, count, media_files, repository

pytestmark = pytest.mark.asyncio(loop_scope="session")

PNG = "png"
A, B = 101, 202
HUGE_FLOOR = 10**18  # more than any disk has free


@pytest.fixture
def opened(media: MediaStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every file the process creates under the media folder (an ``os.open`` spy: a file written and
    removed again still shows up here)."""
    created: list[str] = []
    original = os.open
    root = str(media.root)

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(root) and flags & os.O_CREAT:
            created.append(str(path))
        return original(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    yield created


def chars_repo(db: Database, media: MediaStore, clock: FakeClock, **kw: Any) -> CharacterRepository:
    return CharacterRepository(db, media, clock=clock, **kw)


async def add_ref(chars: CharacterRepository, user_id: int, character_id: int, data: bytes, **kw: Any) -> Any:
    vector = Embedding(struct.pack("<4f", 1, 0, 0, 0), "fake", 4)
    return await chars.add_reference(
        user_id,
        character_id,
        (data, PNG),
        embedding=vector,
        face_box=(1, 2, 30, 40),
        quality={"warnings": []},
        character_embedding=vector,
        **kw,
    )


async def run(repo: JobRepository, user_id: int, **kw: Any) -> int:
    job = await add(repo, user_id, **kw)
    claimed = await repo.claim_next()
    assert claimed is not None and claimed.id == job.id
    return job.id


# -- queue limits before the write ------------------------------------------------------------------


async def test_a_refused_job_never_writes_its_input(
    repo: JobRepository, media: MediaStore, opened: list[str]
) -> None:
    await add(repo, A)
    await add(repo, A)

    with pytest.raises(QueueFull) as info:
        await add(repo, A, input=(b"a new picture", PNG), mask=(b"its mask", PNG), per_user_limit=2)

    assert (info.value.kind, info.value.limit, info.value.current) == ("user", 2, 2)
    assert opened == []  # not written and removed again: never created
    assert not media.root.exists() or list(media.root.iterdir()) == []


async def test_check_room_is_the_same_refusal_without_a_job(repo: JobRepository) -> None:
    await add(repo, A)
    await repo.check_room(A, per_user_limit=2, total_limit=10)
    with pytest.raises(QueueFull) as info:
        await repo.check_room(A, per_user_limit=2, total_limit=10, in_flight=1)
    assert (info.value.current, info.value.in_flight) == (1, 1)
    assert info.value.limit == 2
    with pytest.raises(QueueFull):
        await add(repo, A, per_user_limit=2, in_flight=1)
    assert await repo.active_jobs(A) == 1


# -- the stored-bytes quota -------------------------------------------------------------------------


async def test_quota_counts_each_users_files_once(
    repo: JobRepository, db: Database, media: MediaStore, clock: FakeClock, opened: list[str]
) -> None:
    photo, mask = b"p" * 400, b"m" * 100
    job = await add(repo, A, input=(photo, PNG), mask=(mask, PNG), max_stored_bytes=1000)
    claimed = await repo.claim_next()
    assert claimed is not None
    await repo.mark_done(job.id, [OutputData(b"o" * 450, 1, 8, 8)], 1.0)  # outputs are never refused: 950 now
    chars = chars_repo(db, media, clock)
    mara = await chars.create(A, "Mara")
    await add_ref(chars, A, mara.id, photo)  # the same file again: still counted once
    assert await stored_bytes(db, A) == 950
    files = media_files(media)
    opened.clear()

    with pytest.raises(QuotaExceeded) as info:
        await add(repo, A, input=(b"n" * 60, PNG), max_stored_bytes=1000)
    assert (info.value.limit, info.value.stored, info.value.adding) == (1000, 950, 60)
    with pytest.raises(QuotaExceeded):
        await add_ref(chars, A, mara.id, b"n" * 60, max_stored_bytes=1000)
    assert opened == [] and media_files(media) == files

    # Reusing a file the user already stores adds nothing (a reroll at the limit still goes in) …
    await add(repo, A, input=(photo, PNG), mask=(mask, PNG), max_stored_bytes=1000)
    # … while a file two users share counts for each.
    with pytest.raises(QuotaExceeded) as other:
        await add(repo, B, input=(photo, PNG), max_stored_bytes=399)
    assert (other.value.stored, other.value.adding) == (0, 400)
    await add(repo, B, input=(photo, PNG), max_stored_bytes=400)
    assert await stored_bytes(db, B) == 400


async def test_quota_holds_under_concurrent_submits(repo: JobRepository, media: MediaStore) -> None:
    """Both see room before writing; the inserting transaction lets exactly one in."""
    results = await asyncio.gather(
        add(repo, A, input=(b"x" * 600, PNG), max_stored_bytes=1000),
        add(repo, A, input=(b"y" * 600, PNG), max_stored_bytes=1000),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert len(refused) == 1 and len(accepted) == 1
    assert [p.read_bytes() for p in media_files(media)] == [media.read(accepted[0].input_media, PNG)]


# -- the free-disk floor ----------------------------------------------------------------------------


async def test_nothing_is_written_below_the_disk_floor(
    db: Database, media: MediaStore, clock: FakeClock, opened: list[str], tmp_path: Path
) -> None:
    plain = repository(db, media, clock=clock)
    running_id = await run(plain, A, input=(b"written while there was room", PNG))
    before = media_files(media)
    opened.clear()
    full = repository(db, media, clock=clock, min_free_bytes=HUGE_FLOOR)

    with pytest.raises(DiskFull) as info:
        await add(full, B, input=(b"an upload", PNG))
    assert info.value.floor == HUGE_FLOOR
    assert info.value.free == pytest.approx(free_bytes(tmp_path), rel=0.01)
    with pytest.raises(DiskFull):
        await full.check_room(B, per_user_limit=5, total_limit=5)

    # An accepted job's results are refused too: the job stays running for the worker to fail it.
    with pytest.raises(DiskFull):
        await full.mark_done(running_id, [OutputData(b"a result", 1, 8, 8)], 1.0)
    assert (await full.get(running_id)).status is JobStatus.RUNNING
    assert await full.outputs(running_id) == []

    chars = chars_repo(db, media, clock, min_free_bytes=HUGE_FLOOR)
    mara = await chars.create(A, "Mara")
    with pytest.raises(DiskFull):
        await add_ref(chars, A, mara.id, b"a reference")
    assert await chars.references(A, mara.id) == []
    assert opened == [] and media_files(media) == before
    assert await count(db, "jobs") == 1


# -- cancelled jobs drop their inputs ---------------------------------------------------------------


async def test_cancelled_jobs_drop_their_inputs_at_once(
    repo: JobRepository, db: Database, media: MediaStore
) -> None:
    shared = (b"a mask two jobs use", PNG)
    keeper = await add(repo, B, input=(b"someone else's", PNG), mask=shared)
    queued = await add(repo, A, input=(b"only this job's", PNG), mask=shared)
    only = media.path(queued.input_media, PNG)

    result = await repo.cancel(queued.id, A)

    assert result.job is not None and (result.job.input_media, result.job.mask_media) == (None, None)
    assert not only.exists()
    assert await db.fetchval("SELECT COUNT(*) FROM media WHERE sha256 = ?", (queued.input_media,)) == 0
    assert media.read(keeper.mask_media, PNG) == shared[0]  # still used by B's job


async def test_a_running_job_drops_its_inputs_when_it_ends_cancelled(
    repo: JobRepository, media: MediaStore
) -> None:
    job_id = await run(repo, A, input=(b"being read by the worker", PNG))
    path = media.path((await repo.get(job_id)).input_media, PNG)
    await repo.cancel(job_id, A)
    assert path.exists()  # the worker may still be reading it

    cancelled = await repo.mark_cancelled(job_id)

    assert cancelled is not None and cancelled.input_media is None
    assert not path.exists()


async def test_a_cancel_pending_at_restart_drops_the_inputs(repo: JobRepository, media: MediaStore) -> None:
    job_id = await run(repo, A, input=(b"interrupted by a crash", PNG), mask=(b"its mask", PNG))
    job = await repo.get(job_id)
    paths = [media.path(job.input_media, PNG), media.path(job.mask_media, PNG)]
    await repo.cancel(job_id, A)

    assert await repo.recover_after_restart() == ([], [])

    after = await repo.get(job_id)
    assert (after.status, after.input_media, after.mask_media) == (JobStatus.CANCELLED, None, None)
    assert [p.exists() for p in paths] == [False, False]
    assert media_files(media) == set()
