"""forget_user: everything of one user goes, nothing of anyone else does."""

from __future__ import annotations

import sqlite3
import struct
from typing import Any

import pytest

from storage import (
    CharacterRepository,
    Database,
    Embedding,
    ForgetReport,
    JobOrigin,
    JobRepository,
    MediaStore,
    OutputData,
    UserBusy,
    forget_user,
)
from storage.bans import BanRepository
from storage.schema import MEDIA_REFERENCES
from storage.users import KEPT_TABLES, USER_MEDIA, USER_TABLES
from tests.storage.helpers import FakeClock, add, media_files

pytestmark = pytest.mark.asyncio(loop_scope="session")

PNG = "png"
A, B = 101, 202
# A recognisable embedding: if these bytes are anywhere in the database files, it was not forgotten.
SECRET = struct.pack("<8f", 3.25, -7.5, 1e-3, 42.0, 0.125, -0.5, 6.75, 9.0)


@pytest.fixture
def chars(db: Database, media: MediaStore, clock: FakeClock) -> CharacterRepository:
    return CharacterRepository(db, media, clock=clock)


async def add_image(
    chars: CharacterRepository, user_id: int, character_id: int, data: bytes, **kw: Any
) -> Any:
    values: dict[str, Any] = {
        "embedding": Embedding(SECRET, "fake", 8),
        "face_box": None,
        "quality": {},
        "character_embedding": Embedding(SECRET, "fake", 8),
    }
    values.update(kw)
    return await chars.add_reference(user_id, character_id, (data, PNG), **values)


async def rows_of(db: Database, user_id: int) -> tuple[object, ...]:
    """Everything stored for one user, row by row."""
    queries = [
        "SELECT * FROM characters WHERE user_id = ? ORDER BY id",
        "SELECT r.* FROM reference_images AS r JOIN characters AS c ON c.id = r.character_id "
        "WHERE c.user_id = ? ORDER BY r.id",
        "SELECT * FROM jobs WHERE user_id = ? ORDER BY id",
        "SELECT o.* FROM job_outputs AS o JOIN jobs AS j ON j.id = o.job_id "
        "WHERE j.user_id = ? ORDER BY o.job_id, o.idx",
        "SELECT * FROM user_last_served WHERE user_id = ?",
    ]
    return tuple([[tuple(r) for r in await db.fetchall(sql, (user_id,))] for sql in queries])


async def populate(chars: CharacterRepository, repo: JobRepository) -> dict[str, Any]:
    """User A with two characters, jobs in every finished state plus a queued one; user B with
    a character and jobs, sharing one file with A in each direction."""
    alice = await chars.create(A, "Alice")
    mascot = await chars.create(A, "Mascot")
    await add_image(chars, A, alice.id, b"a face 1")
    await add_image(chars, A, alice.id, b"a face 2")
    await add_image(chars, A, mascot.id, b"shared with B")  # B's job uses this as input
    done = await add(repo, A, input=(b"a input", PNG), mask=(b"a mask", PNG))
    await repo.claim_next()
    await repo.mark_done(done.id, [OutputData(b"a output", 1, 8, 8), OutputData(b"a output 2", 2, 8, 8)], 1.0)
    failed = await add(repo, A)
    await repo.claim_next()
    await repo.mark_failed(failed.id, "boom")
    await add(repo, A, input=(b"a queued input", PNG))

    bob = await chars.create(B, "Bob")
    await add_image(chars, B, bob.id, b"a output")  # B kept A's output as a reference
    b_job = await add(repo, B, input=(b"shared with B", PNG), parent_job_id=done.id, origin=JobOrigin.VARY)
    return {"done": done, "b_job": b_job, "bob": bob}


async def test_forget_removes_everything_of_one_user_only(
    chars: CharacterRepository, repo: JobRepository, db: Database, media: MediaStore
) -> None:
    made = await populate(chars, repo)
    b_before = await rows_of(db, B)
    files_before = {p.read_bytes() for p in media_files(media)}

    report = await forget_user(db, media, A)

    assert report == ForgetReport(characters=2, images=3, jobs=3, outputs=2, files=6)
    assert all(rows == [] for rows in await rows_of(db, A))
    assert await chars.list(A) == [] and await repo.user_jobs(A) == []
    b_after = await rows_of(db, B)
    b_job_after = await repo.get(made["b_job"].id)
    assert b_job_after is not None and b_job_after.parent_job_id is None  # the link to A is cut
    assert b_after[0:2] == b_before[0:2] and b_after[3:] == b_before[3:]  # B's rows otherwise intact
    left = {p.read_bytes() for p in media_files(media)}
    assert left == {b"shared with B", b"a output"}  # still used by B's rows
    assert files_before - left == {
        b"a face 1",
        b"a face 2",
        b"a input",
        b"a mask",
        b"a output 2",
        b"a queued input",
    }
    assert await db.fetchval("SELECT COUNT(*) FROM media") == 2
    assert await db.fetchall("PRAGMA foreign_key_check") == []

    assert (await forget_user(db, media, A)).nothing  # forgetting twice is harmless
    assert len(await chars.references(B, made["bob"].id)) == 1


async def test_running_jobs_are_refused_and_nothing_changes(
    chars: CharacterRepository, repo: JobRepository, db: Database, media: MediaStore
) -> None:
    alice = await chars.create(A, "Alice")
    await add_image(chars, A, alice.id, b"face")
    job = await add(repo, A, input=(b"input", PNG))
    await repo.claim_next()
    before = (await rows_of(db, A), {p.name for p in media_files(media)})

    with pytest.raises(UserBusy) as info:
        await forget_user(db, media, A)
    assert info.value.running_job_ids == (job.id,)
    assert (await rows_of(db, A), {p.name for p in media_files(media)}) == before

    await repo.cancel(job.id, A)  # the bot cancels, the worker stops it …
    await repo.mark_cancelled(job.id)  # (its input file goes with the cancel)
    assert len(media_files(media)) == 1
    report = await forget_user(db, media, A)  # … and then forgetting goes through
    assert (report.characters, report.images, report.jobs, report.files) == (1, 1, 1, 1)
    assert media_files(media) == set()


async def test_a_failure_mid_way_changes_nothing(
    chars: CharacterRepository,
    repo: JobRepository,
    db: Database,
    media: MediaStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await populate(chars, repo)
    await db.execute("PRAGMA secure_delete = 0")  # builds differ in their default
    before = (await rows_of(db, A), await rows_of(db, B), {p.name for p in media_files(media)})
    original = db.fetchall

    async def broken(sql: str, *args: Any, **kwargs: Any) -> Any:
        if sql.startswith("DELETE FROM media"):
            raise sqlite3.OperationalError("injected failure")
        return await original(sql, *args, **kwargs)

    monkeypatch.setattr(db, "fetchall", broken)
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        await forget_user(db, media, A)
    monkeypatch.undo()
    assert (await rows_of(db, A), await rows_of(db, B), {p.name for p in media_files(media)}) == before
    assert await db.fetchval("PRAGMA secure_delete") == 0  # restored


async def test_embeddings_are_overwritten_on_disk(
    chars: CharacterRepository, db: Database, media: MediaStore
) -> None:
    await db.execute("PRAGMA secure_delete = 0")  # builds differ in their default: forget_user sets it
    alice = await chars.create(A, "Alice")
    await add_image(chars, A, alice.id, b"face")

    def on_disk() -> bool:
        files = [db.path, db.path.with_name(db.path.name + "-wal")]
        return any(SECRET in f.read_bytes() for f in files if f.exists())

    assert on_disk()
    await forget_user(db, media, A)
    assert not on_disk()
    assert await db.fetchval("PRAGMA secure_delete") == 0  # restored afterwards


async def test_forget_knows_every_user_table_and_media_column(db: Database) -> None:
    """A new per-user table or media column must be handled by forget_user too."""
    assert set(USER_MEDIA) == set(MEDIA_REFERENCES)
    tables = [r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")]
    with_user = set()
    for table in tables:
        columns = {r["name"] for r in await db.fetchall("SELECT name FROM pragma_table_info(?)", (table,))}
        if "user_id" in columns:
            with_user.add(table)
    assert with_user == set(USER_TABLES) | set(KEPT_TABLES)
    assert not set(USER_TABLES) & set(KEPT_TABLES)


async def test_forgetting_a_user_keeps_their_ban(db: Database, media: MediaStore, clock: FakeClock) -> None:
    """Forgetting oneself must not lift a server's ban (KEPT_TABLES says why)."""
    bans = BanRepository(db, clock=clock)
    await bans.ban(7, A, "spam", by=B, expires_at=None)
    await forget_user(db, media, A)
    kept = await bans.active(A, 7)
    assert kept is not None and kept.reason == "spam"
