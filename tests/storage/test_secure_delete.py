"""Deleting a character or one of its images leaves its face embedding nowhere on disk, and the
delete is durable before its files go (``synchronous=FULL``, then a WAL checkpoint)."""

from __future__ import annotations

import logging
import sqlite3
import struct
from pathlib import Path

import pytest

from storage import CharacterRepository, Database, Embedding, MediaStore
from tests.storage.helpers import FakeClock, media_files

pytestmark = pytest.mark.asyncio(loop_scope="session")

A = 101
# Recognisable embeddings: if these bytes are in the database or its WAL, they were not erased.
SECRET = struct.pack("<8f", 3.25, -7.5, 1e-3, 42.0, 0.125, -0.5, 6.75, 9.0)
SECRET_SET = struct.pack("<8f", -1.75, 8.5, 2e-3, -41.0, 0.375, 0.5, -6.25, 11.0)
KEPT = struct.pack("<8f", 0.5, 0.25, 0.125, 1.0, 2.0, 4.0, 8.0, 16.0)


@pytest.fixture
def chars(db: Database, media: MediaStore, clock: FakeClock) -> CharacterRepository:
    return CharacterRepository(db, media, clock=clock)


def on_disk(db: Database, secret: bytes) -> list[str]:
    """Which of the database's files hold ``secret``."""
    files = [db.path, db.path.with_name(db.path.name + "-wal")]
    return [f.name for f in files if f.exists() and secret in f.read_bytes()]


async def add(
    chars: CharacterRepository, character_id: int, data: bytes, vector: bytes, combined: bytes
) -> None:
    await chars.add_reference(
        A,
        character_id,
        (data, "png"),
        embedding=Embedding(vector, "fake", 8),
        face_box=None,
        quality={},
        character_embedding=Embedding(combined, "fake", 8),
    )


async def test_deleting_a_character_erases_its_embeddings_from_the_database_and_wal(
    chars: CharacterRepository, db: Database, media: MediaStore
) -> None:
    await db.execute("PRAGMA secure_delete = 0")  # builds differ in their default: delete sets it
    alice = await chars.create(A, "Alice")
    await add(chars, alice.id, b"face", SECRET, SECRET_SET)
    assert on_disk(db, SECRET) and on_disk(db, SECRET_SET)

    await chars.delete(A, alice.id)

    assert on_disk(db, SECRET) == [] and on_disk(db, SECRET_SET) == []
    assert media_files(media) == set()
    assert await db.fetchval("PRAGMA secure_delete") == 0  # restored afterwards
    assert await db.fetchval("PRAGMA synchronous") == 2  # FULL: the delete is on disk before the unlink


async def test_pruning_an_image_erases_its_embedding_from_the_database_and_wal(
    chars: CharacterRepository, db: Database, media: MediaStore
) -> None:
    await db.execute("PRAGMA secure_delete = 0")
    alice = await chars.create(A, "Alice")
    await add(chars, alice.id, b"kept face", KEPT, KEPT)
    await add(chars, alice.id, b"pruned face", SECRET, KEPT)
    assert on_disk(db, SECRET)

    removed = await chars.prune(A, alice.id, number=2, character_embedding=Embedding(KEPT, "fake", 8))

    assert removed.embedding is not None and removed.embedding.vector == SECRET
    assert on_disk(db, SECRET) == []
    assert [p.read_bytes() for p in media_files(media)] == [b"kept face"]
    assert [r.embedding.vector for r in await chars.references(A, alice.id) if r.embedding] == [KEPT]


async def test_a_reader_blocking_the_checkpoint_does_not_fail_the_delete(
    chars: CharacterRepository, db: Database, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process (the CLI) reading at that moment: the delete stands, the blocked checkpoint
    is logged and finishes at a later one."""
    alice = await chars.create(A, "Alice")
    await add(chars, alice.id, b"face", SECRET, SECRET_SET)
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM characters").fetchone()  # holds a read snapshot
        with caplog.at_level(logging.WARNING, logger="storage.db"):
            await chars.delete(A, alice.id)
        assert "WAL checkpoint after deleting a character was blocked by a reader" in caplog.text
        assert await chars.list(A) == []
    finally:
        reader.close()
    other = await chars.create(A, "Bob")
    await chars.delete(A, other.id)  # the next delete's checkpoint completes the job
    assert on_disk(db, SECRET) == []
