"""JobRepository: limits, lifecycle, cancel rules, recovery, deletion, sweeps and atomicity."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import threading
from typing import Any

import pytest

from bot.params import FaceLock, Mode
from storage import (
    CancelOutcome,
    Database,
    JobOrigin,
    JobRepository,
    JobStatus,
    MediaStore,
    OutputData,
    QueueFull,
)
from storage.jobs import RESTARTED_TWICE
from tests.storage.helpers import FakeClock, add, count, media_files, new_job

pytestmark = pytest.mark.asyncio(loop_scope="session")

PNG = "png"


def fail_on(monkeypatch: pytest.MonkeyPatch, db: Database, method: str, fragment: str) -> None:
    """Make ``db.<method>`` raise for statements containing ``fragment`` (after files are written)."""
    original = getattr(db, method)

    async def broken(sql: str, *args: Any, **kwargs: Any) -> Any:
        if fragment in sql:
            raise sqlite3.OperationalError(f"injected failure on {fragment}")
        return await original(sql, *args, **kwargs)

    monkeypatch.setattr(db, method, broken)


async def run(repo: JobRepository, user_id: int = 1, **kw: Any) -> int:
    """A job that has been queued and claimed (running)."""
    job = await add(repo, user_id, **kw)
    claimed = await repo.claim_next()
    assert claimed is not None and claimed.id == job.id
    return job.id


# -- creating -----------------------------------------------------------------------------------


async def test_create_job_stores_every_field(
    repo: JobRepository, media: MediaStore, clock: FakeClock
) -> None:
    fields = new_job(
        7,
        guild_id=1,
        channel_id=2,
        negative="blurry",
        strength=0.4,
        style="film",
        expand="left",
        origin="reroll",
        application_id=3,
        interaction_token="secret-token",
        token_expires_at=clock() + 900,
        message_id=4,
        mode="img2img",
    )
    job = await repo.create_job(fields, (b"input", "PNG"), (b"mask", "png"), per_user_limit=3, total_limit=9)
    assert job.status is JobStatus.QUEUED and job.origin is JobOrigin.REROLL
    assert (job.user_id, job.guild_id, job.channel_id, job.params.mode) == (7, 1, 2, Mode.IMG2IMG)
    assert job.params == fields.params  # every parameter as stored, unchecked (storage does not judge)
    assert (job.application_id, job.interaction_token, job.message_id) == (3, "secret-token", 4)
    assert job.created_at == clock() and job.attempts == 0 and job.warnings == ()
    assert "secret-token" not in repr(job) and "secret-token" not in repr(fields)
    assert media.read(job.input_media, "png") == b"input"
    assert media.read(job.mask_media, "png") == b"mask"
    assert await repo.media_path(job.input_media) == media.path(job.input_media, "png")
    assert await repo.get(job.id) == job


async def test_bad_origin_is_rejected() -> None:
    with pytest.raises(ValueError):
        new_job(origin="nonsense")


async def test_per_user_limit_counts_running_jobs(
    repo: JobRepository, db: Database, media: MediaStore
) -> None:
    await run(repo, 1, per_user_limit=2)
    await add(repo, 1, per_user_limit=2)
    with pytest.raises(QueueFull) as info:
        await add(repo, 1, input=(b"new bytes", PNG), per_user_limit=2)
    assert (info.value.kind, info.value.limit, info.value.current) == ("user", 2, 2)
    assert "limit 2" in str(info.value)
    assert await count(db, "jobs") == 2 and await count(db, "media") == 0
    assert media_files(media) == set()  # the file this call wrote is gone again
    await add(repo, 2, per_user_limit=2)  # other users are not affected


async def test_total_limit_counts_queued_jobs_only(repo: JobRepository, db: Database) -> None:
    await add(repo, 1, total_limit=2)
    await add(repo, 2, total_limit=2)
    with pytest.raises(QueueFull) as info:
        await add(repo, 3, total_limit=2)
    assert (info.value.kind, info.value.limit, info.value.current) == ("total", 2, 2)
    await repo.claim_next()  # one starts running: a queued slot frees up
    await add(repo, 3, total_limit=2)
    assert await count(db, "jobs") == 3


async def test_queue_full_keeps_a_file_another_job_uses(repo: JobRepository, media: MediaStore) -> None:
    first = await add(repo, 1, input=(b"shared", PNG))
    with pytest.raises(QueueFull):
        await add(repo, 1, input=(b"shared", PNG), per_user_limit=1)
    assert media.read(first.input_media, PNG) == b"shared"


async def test_concurrent_creates_never_exceed_the_limits(
    repo: JobRepository, db: Database, media: MediaStore
) -> None:
    async def attempt(i: int) -> bool:
        try:
            await add(repo, i % 4, input=(f"img {i}".encode(), PNG), per_user_limit=3, total_limit=10)
        except QueueFull:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(40)))
    assert sum(results) == 10
    rows = await db.fetchall("SELECT user_id, COUNT(*) AS n FROM jobs GROUP BY user_id")
    assert all(r["n"] <= 3 for r in rows)
    assert await count(db, "media") == 10 and len(media_files(media)) == 10  # no leftovers


# -- results ------------------------------------------------------------------------------------


async def test_mark_done_stores_outputs(repo: JobRepository, media: MediaStore, clock: FakeClock) -> None:
    job_id = await run(repo)
    clock.advance(5)
    done = await repo.mark_done(
        job_id,
        [OutputData(b"one", 11, 64, 32), OutputData(b"two", 12, 64, 32), OutputData(b"one", 13, 64, 32)],
        4.5,
        ["slow"],
    )
    assert done is not None and done.status is JobStatus.DONE
    assert (done.finished_at, done.engine_seconds, done.warnings) == (clock(), 4.5, ("slow",))
    outputs = await repo.outputs(job_id)
    assert [(o.idx, o.seed, o.width, o.height, o.ext) for o in outputs] == [
        (0, 11, 64, 32, PNG),
        (1, 12, 64, 32, PNG),
        (2, 13, 64, 32, PNG),
    ]
    assert outputs[0].media == outputs[2].media  # identical bytes share one file
    assert [media.read(o.media, o.ext) for o in outputs] == [b"one", b"two", b"one"]
    assert len(media_files(media)) == 2
    assert await repo.recent_durations() == [4.5]
    assert [j.id for j in await repo.undelivered()] == [job_id]


async def test_the_structure_map_is_kept_with_the_outputs_and_goes_with_the_job(
    repo: JobRepository, media: MediaStore
) -> None:
    job_id = await run(repo, 1)
    done = await repo.mark_done(job_id, [OutputData(b"out", 1, 8, 8)], 1.0, structure=b"edges")
    assert done is not None and done.structure_media is not None
    assert media.read(done.structure_media, PNG) == b"edges"
    assert [o.idx for o in await repo.outputs(job_id)] == [0]  # the map is no output
    assert len(media_files(media)) == 2
    assert await repo.delete_job(job_id, 1)
    assert media_files(media) == set()


async def test_a_cancelled_job_keeps_no_structure_map(repo: JobRepository, media: MediaStore) -> None:
    job_id = await run(repo, 1)
    await repo.cancel(job_id, 1)
    await repo.mark_cancelled(job_id)
    assert await repo.mark_done(job_id, [OutputData(b"out", 1, 8, 8)], 1.0, structure=b"edges") is None
    assert media_files(media) == set()


async def test_face_lock_fields_and_output_identity(repo: JobRepository) -> None:
    """A face-locked job keeps its settings; outputs keep their identity score."""
    lock = FaceLock(weight=0.8, mode="all", min_identity=0.5, max_tries=3)
    job = await add(repo, face=lock)
    assert job.params.face == lock
    plain = await add(repo, 2)
    assert plain.params.face is None and plain.character_id is None
    claimed = await repo.claim_next()
    assert claimed is not None and claimed.id == job.id
    outputs = [OutputData(b"a", 1, 8, 8, 0.71), OutputData(b"b", 2, 8, 8, None), OutputData(b"c", 3, 8, 8)]
    assert await repo.mark_done(job.id, outputs, 1.0) is not None
    scores = [o.identity for o in await repo.outputs(job.id)]
    assert scores[0] == pytest.approx(0.71) and scores[1:] == [None, None]


async def test_mark_done_needs_a_running_job(repo: JobRepository, media: MediaStore) -> None:
    queued = await add(repo)
    assert await repo.mark_done(queued.id, [OutputData(b"out", 1, 8, 8)], 1.0) is None
    assert await repo.mark_done(999, [OutputData(b"out", 1, 8, 8)], 1.0) is None
    assert media_files(media) == set()


async def test_mark_failed(repo: JobRepository, clock: FakeClock) -> None:
    job_id = await run(repo)
    failed = await repo.mark_failed(job_id, "out of memory")
    assert failed is not None and failed.status is JobStatus.FAILED
    assert (failed.error, failed.finished_at) == ("out of memory", clock())
    assert await repo.mark_failed(job_id, "again") is None  # already finished


# -- cancelling ---------------------------------------------------------------------------------


async def test_cancel_rules(repo: JobRepository, clock: FakeClock) -> None:
    assert (await repo.cancel(999, 1)).outcome is CancelOutcome.NOT_FOUND

    queued = await add(repo, 1)
    other = await repo.cancel(queued.id, 2)
    assert (other.outcome, other.job) == (CancelOutcome.NOT_OWNER, None)
    assert (await repo.get(queued.id)).status is JobStatus.QUEUED

    result = await repo.cancel(queued.id, 1)
    assert result.outcome is CancelOutcome.CANCELLED_QUEUED
    assert result.job.status is JobStatus.CANCELLED and result.job.finished_at == clock()
    assert (await repo.cancel(queued.id, 1)).outcome is CancelOutcome.ALREADY_FINISHED

    running_id = await run(repo, 1)
    result = await repo.cancel(running_id, 1)
    assert result.outcome is CancelOutcome.CANCEL_RUNNING
    assert result.job.status is JobStatus.RUNNING and result.job.cancel_requested_at == clock()
    cancelled = await repo.mark_cancelled(running_id)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED
    assert (await repo.cancel(running_id, 1)).outcome is CancelOutcome.ALREADY_FINISHED

    done_id = await run(repo, 1)
    await repo.mark_done(done_id, [OutputData(b"x", 1, 8, 8)], 1.0)
    finished = await repo.cancel(done_id, 1)
    assert finished.outcome is CancelOutcome.ALREADY_FINISHED and finished.job.status is JobStatus.DONE


async def test_mark_done_after_cancel_removes_only_its_new_files(
    repo: JobRepository, db: Database, media: MediaStore
) -> None:
    job_id = await run(repo, 1)
    other = await add(repo, 2, input=(b"already stored", PNG))
    await repo.cancel(job_id, 1)
    await repo.mark_cancelled(job_id)
    before = media_files(media)

    result = await repo.mark_done(
        job_id, [OutputData(b"brand new", 1, 8, 8), OutputData(b"already stored", 2, 8, 8)], 1.0
    )

    assert result is None
    assert (await repo.get(job_id)).status is JobStatus.CANCELLED
    assert await repo.outputs(job_id) == []
    assert media_files(media) == before  # the new file is gone, the shared one stays
    assert media.read(other.input_media, PNG) == b"already stored"
    assert await count(db, "media") == 1


# -- recovery -----------------------------------------------------------------------------------


async def test_recovery_requeues_once_then_fails(repo: JobRepository, clock: FakeClock) -> None:
    job_id = await run(repo, 1)
    await add(repo, 2)  # another user's job must not jump ahead of the interrupted one
    assert await repo.recover_after_restart() == ([job_id], [])
    job = await repo.get(job_id)
    assert (job.status, job.attempts, job.started_at) == (JobStatus.QUEUED, 1, None)

    again = await repo.claim_next()
    assert again is not None and (again.id, again.attempts) == (job_id, 2)
    assert await repo.recover_after_restart() == ([], [job_id])
    failed = await repo.get(job_id)
    assert (failed.status, failed.error, failed.finished_at) == (JobStatus.FAILED, RESTARTED_TWICE, clock())
    assert await repo.recover_after_restart() == ([], [])


async def test_recovery_honours_a_pending_cancel(repo: JobRepository) -> None:
    job_id = await run(repo, 1)
    await repo.cancel(job_id, 1)
    assert await repo.recover_after_restart() == ([], [])
    assert (await repo.get(job_id)).status is JobStatus.CANCELLED


# -- reading and delivery -----------------------------------------------------------------------


async def test_reading_and_delivery_bookkeeping(repo: JobRepository, clock: FakeClock) -> None:
    b = await run(repo, 2)
    a = await add(repo, 1)
    c = await add(repo, 1)
    await repo.cancel(c.id, 1)
    assert [j.id for j in await repo.user_jobs(1)] == [c.id, a.id]
    assert [j.id for j in await repo.user_jobs(1, [JobStatus.QUEUED, "running"])] == [a.id]
    assert [j.id for j in await repo.user_jobs(1, limit=1)] == [c.id]
    assert await repo.user_jobs(1, []) == []

    assert await repo.set_message(a.id, 555)
    assert (await repo.get(a.id)).message_id == 555
    assert not await repo.set_message(999, 1)

    await repo.mark_done(b, [OutputData(b"img", 1, 8, 8)], 2.0)
    assert [j.id for j in await repo.undelivered()] == [b]
    clock.advance(1)
    assert await repo.set_delivery(b, 777, 888)
    delivered = await repo.get(b)
    assert (delivered.result_message_id, delivered.result_channel_id, delivered.delivered_at) == (
        777,
        888,
        clock(),
    )
    assert await repo.undelivered() == []


async def test_recent_durations_newest_first(repo: JobRepository, clock: FakeClock) -> None:
    for seconds in (1.0, 2.0, 3.0):
        clock.advance(10)
        await repo.mark_done(await run(repo), [OutputData(b"%f" % seconds, 1, 8, 8)], seconds)
    failed = await run(repo)
    await repo.mark_failed(failed, "nope")
    assert await repo.recent_durations() == [3.0, 2.0, 1.0]
    assert await repo.recent_durations(limit=2) == [3.0, 2.0]


# -- deleting and sweeping ----------------------------------------------------------------------


async def test_delete_keeps_media_another_job_uses(
    repo: JobRepository, db: Database, media: MediaStore
) -> None:
    first = await add(repo, 1, input=(b"same face", PNG), mask=(b"mask", PNG))
    second = await add(repo, 2, input=(b"same face", PNG))
    assert first.input_media == second.input_media
    await repo.claim_next()
    await repo.mark_done(first.id, [OutputData(b"result", 1, 8, 8)], 1.0)
    child = await add(repo, 1, parent_job_id=first.id, origin=JobOrigin.VARY)
    (output,) = await repo.outputs(first.id)

    assert not await repo.delete_job(first.id, 2)  # not the owner
    assert await repo.delete_job(first.id, 1)

    assert await repo.get(first.id) is None and await repo.outputs(first.id) == []
    assert (await repo.get(child.id)).parent_job_id is None
    assert not media.exists(output.media, PNG) and not media.exists(first.mask_media, PNG)
    assert media.read(second.input_media, PNG) == b"same face"
    assert await count(db, "media") == 1 and await count(db, "job_outputs") == 0

    assert await repo.delete_job(second.id, 2)
    assert await count(db, "media") == 0 and media_files(media) == set()
    assert not await repo.delete_job(second.id, 2)  # already gone


async def test_a_running_job_is_not_deleted(repo: JobRepository) -> None:
    job_id = await run(repo, 1)
    assert not await repo.delete_job(job_id, 1)
    assert (await repo.get(job_id)).status is JobStatus.RUNNING


async def test_sweep_deletes_old_finished_jobs(
    repo: JobRepository, db: Database, media: MediaStore, clock: FakeClock
) -> None:
    old = await run(repo, 1, input=(b"old input", PNG))
    await repo.mark_done(old, [OutputData(b"old output", 1, 8, 8)], 1.0)
    waiting = await add(repo, 2, input=(b"old input", PNG))  # queued long ago: never swept
    clock.advance(100)
    recent = await add(repo, 3)
    await repo.cancel(recent.id, 3)
    clock.advance(20)

    assert await repo.sweep(older_than_seconds=50) == 1
    assert await repo.get(old) is None
    assert await repo.get(recent.id) is not None and await repo.get(waiting.id) is not None
    assert media.read(waiting.input_media, PNG) == b"old input"
    assert len(media_files(media)) == 1 and await count(db, "media") == 1
    assert await repo.sweep(older_than_seconds=50) == 0


async def test_gc_media_and_orphan_sweep(repo: JobRepository, db: Database, media: MediaStore) -> None:
    used = await add(repo, 1, input=(b"used", PNG))
    unreferenced = media.put(b"row but no job", PNG)
    await db.execute(
        "INSERT INTO media (sha256, ext, size, created_at) VALUES (?, ?, ?, 0)", (unreferenced, PNG, 14)
    )
    assert await repo.gc_media() == [unreferenced]
    assert not media.exists(unreferenced, PNG) and media.exists(used.input_media, PNG)
    assert await repo.gc_media() == []

    old_orphan = media.put(b"file but no row", PNG)
    new_orphan = media.put(b"being written", PNG)
    for sha in (old_orphan, used.input_media):
        os.utime(media.path(sha, PNG), (0, 0))
    assert await repo.sweep_orphan_files(older_than=600) == [media.path(old_orphan, PNG)]
    assert media.exists(new_orphan, PNG) and media.exists(used.input_media, PNG)


# -- atomicity under injected failures ----------------------------------------------------------


async def test_create_failure_after_media_rows_leaves_nothing(
    repo: JobRepository, db: Database, media: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = await add(repo, 1, input=(b"shared", PNG))
    before = media_files(media)
    fail_on(monkeypatch, db, "fetchall", "INSERT INTO jobs")
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        await add(repo, 2, input=(b"shared", PNG), mask=(b"fresh mask", PNG))
    assert await count(db, "jobs") == 1 and await count(db, "media") == 1
    assert media_files(media) == before
    assert media.read(shared.input_media, PNG) == b"shared"


async def test_create_with_a_missing_parent_leaves_nothing(
    repo: JobRepository, db: Database, media: MediaStore
) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await add(repo, 1, input=(b"img", PNG), parent_job_id=12345)
    assert await count(db, "jobs") == 0 and await count(db, "media") == 0
    assert media_files(media) == set()


async def test_file_write_failure_removes_the_files_already_written(
    repo: JobRepository, db: Database, media: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = media.pin_put

    def second_write_fails(data: bytes, ext: str) -> Any:
        if data == b"mask":
            raise OSError("disk full")
        return original(data, ext)

    monkeypatch.setattr(media, "pin_put", second_write_fails)
    with pytest.raises(OSError, match="disk full"):
        await add(repo, 1, input=(b"input", PNG), mask=(b"mask", PNG))
    assert media_files(media) == set() and await count(db, "jobs") == 0


async def test_mark_done_failure_leaves_the_job_running_and_no_files(
    repo: JobRepository, db: Database, media: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await run(repo, 1, input=(b"input", PNG))
    before = media_files(media)
    fail_on(monkeypatch, db, "fetchall", "INSERT INTO job_outputs")
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        await repo.mark_done(job_id, [OutputData(b"out a", 1, 8, 8), OutputData(b"out b", 2, 8, 8)], 1.0)
    job = await repo.get(job_id)
    assert (job.status, job.finished_at) == (JobStatus.RUNNING, None)
    assert await count(db, "job_outputs") == 0 and await count(db, "media") == 1
    assert media_files(media) == before
    monkeypatch.undo()
    assert (await repo.mark_done(job_id, [OutputData(b"out a", 1, 8, 8)], 1.0)).status is JobStatus.DONE


async def test_delete_failure_keeps_rows_and_files(
    repo: JobRepository, db: Database, media: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await run(repo, 1, input=(b"input", PNG))
    await repo.mark_done(job_id, [OutputData(b"out", 1, 8, 8)], 1.0)
    before = media_files(media)
    fail_on(monkeypatch, db, "fetchall", "DELETE FROM media")
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        await repo.delete_job(job_id, 1)
    assert await repo.get(job_id) is not None and len(await repo.outputs(job_id)) == 1
    assert media_files(media) == before and await count(db, "media") == 2


async def test_claim_failure_leaves_the_job_queued(
    repo: JobRepository, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await add(repo, 1)
    fail_on(monkeypatch, db, "fetchall", "INSERT INTO user_last_served")
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        await repo.claim_next()
    after = await repo.get(job.id)
    assert (after.status, after.attempts) == (JobStatus.QUEUED, 0)
    assert await count(db, "user_last_served") == 0


async def test_concurrent_writers_and_deleters_keep_rows_and_files_in_step(
    repo: JobRepository, db: Database, media: MediaStore
) -> None:
    """Shared inputs created, finished, deleted and collected concurrently: afterwards every media
    row has its file and every file has its row (the pins + lock close the races)."""
    faces = [b"face %d" % i for i in range(3)]

    async def user_session(user: int) -> None:
        for round_ in range(6):
            job = await add(repo, user, input=(faces[(user + round_) % 3], PNG))
            if round_ % 2:
                await repo.cancel(job.id, user)
                await repo.delete_job(job.id, user)
            await asyncio.sleep(0)

    async def worker() -> None:
        for _ in range(12):
            job = await repo.claim_next()
            if job is not None:
                await repo.mark_done(job.id, [OutputData(faces[job.id % 3], 1, 8, 8)], 0.1)
            await repo.gc_media()

    await asyncio.gather(*(user_session(u) for u in range(4)), worker(), worker())
    rows = {(r[0], r[1]) for r in await db.fetchall("SELECT sha256, ext FROM media")}
    assert {media.path(sha, ext) for sha, ext in rows} == media_files(media)
    referenced = await db.fetchall(
        "SELECT input_media FROM jobs WHERE input_media IS NOT NULL UNION SELECT media FROM job_outputs"
    )
    assert {r[0] for r in referenced} == {sha for sha, _ in rows}


async def test_cancelling_mark_done_mid_write_leaves_no_pin_and_no_file(
    repo: JobRepository, media: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = await run(repo, 1)
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    original = media.pin_put

    def slow_write(data: bytes, ext: str) -> Any:
        started.set()
        release.wait(5)
        try:
            return original(data, ext)
        finally:
            finished.set()

    monkeypatch.setattr(media, "pin_put", slow_write)
    task = asyncio.create_task(repo.mark_done(job_id, [OutputData(b"late", 1, 8, 8)], 1.0))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    await asyncio.sleep(0.01)
    release.set()  # the write finishes after the cancel …
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(finished.wait, 5)
    # … and is still cleaned up: nothing pinned forever, no orphan, job untouched.
    assert not media.is_pinned(hashlib.sha256(b"late").hexdigest())
    assert media_files(media) == set()
    assert (await repo.get(job_id)).status is JobStatus.RUNNING
