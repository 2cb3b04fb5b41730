"""CharacterRepository: names, isolation between users, roles and numbering, caps, atomicity,
deletion, embeddings, and the 0002 migration on an existing database."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from storage import (
    CharacterChanged,
    CharacterNotFound,
    CharacterRepository,
    Database,
    DuplicateImage,
    Embedding,
    InvalidName,
    JobRepository,
    MediaStore,
    NameTaken,
    ReferenceNotFound,
    RefRole,
    SetFull,
    TooManyCharacters,
)
from storage.db import default_migrations
from tests.storage.helpers import FakeClock, add, media_files, repository

pytestmark = pytest.mark.asyncio(loop_scope="session")

PNG = "png"
A, B = 101, 202  # two users


@pytest.fixture
def chars(db: Database, media: MediaStore, clock: FakeClock) -> CharacterRepository:
    return CharacterRepository(db, media, clock=clock)


def emb(*values: float, backend: str = "fake") -> Embedding:
    return Embedding(struct.pack(f"<{len(values)}f", *values), backend, len(values))


async def add_image(
    chars: CharacterRepository, user_id: int, character_id: int, data: bytes, **kw: Any
) -> Any:
    values: dict[str, Any] = {
        "embedding": emb(1, 0, 0, 0),
        "face_box": (1, 2, 30, 40),
        "quality": {"warnings": []},
        "character_embedding": emb(0.5, 0.5, 0, 0),
    }
    values.update(kw)
    return await chars.add_reference(user_id, character_id, (data, PNG), **values)


async def snapshot(db: Database, media: MediaStore) -> tuple[object, ...]:
    """Every row of the character/media tables plus every media file's bytes."""
    tables = []
    for table in ("characters", "reference_images", "media", "jobs"):
        tables.append([tuple(r) for r in await db.fetchall(f"SELECT * FROM {table} ORDER BY rowid")])
    files = sorted((p.name, p.read_bytes()) for p in media_files(media))
    return (*tables, files)


def numbered(refs: list[Any]) -> list[tuple[int, str, bytes | None]]:
    return [(r.number, r.role.value, r.embedding.vector if r.embedding else None) for r in refs]


def fail_on(monkeypatch: pytest.MonkeyPatch, db: Database, fragment: str) -> None:
    original = db.fetchall

    async def broken(sql: str, *args: Any, **kwargs: Any) -> Any:
        if fragment in sql:
            raise sqlite3.OperationalError(f"injected failure on {fragment}")
        return await original(sql, *args, **kwargs)

    monkeypatch.setattr(db, "fetchall", broken)


# -- names --------------------------------------------------------------------------------------


async def test_create_and_read(chars: CharacterRepository, clock: FakeClock) -> None:
    alice = await chars.create(A, "  Alice  ")
    assert (alice.user_id, alice.name, alice.image_count, alice.embedding) == (A, "Alice", 0, None)
    assert alice.created_at == alice.updated_at == clock()
    assert await chars.get(A, alice.id) == alice
    assert await chars.by_name(A, "ALICE ") == alice
    assert await chars.resolve(A, "alice") == alice
    with pytest.raises(CharacterNotFound) as missing:
        await chars.resolve(A, " Bob ")
    assert missing.value.name == "Bob"
    bob = await chars.create(A, "bob")
    assert [c.name for c in await chars.list(A)] == ["Alice", "bob"]
    assert await chars.references(A, bob.id) == []


async def test_names_are_unique_per_user_case_insensitively(chars: CharacterRepository) -> None:
    await chars.create(A, "Straße Cat")
    for clash in ("straße cat", " STRASSE CAT ", "Straße   Cat"):
        with pytest.raises(NameTaken) as taken:
            await chars.create(A, clash)
        assert taken.value.existing == "Straße Cat"
    assert len(await chars.list(A)) == 1
    other = await chars.create(B, "straße cat")  # another user may use the same name
    assert other.user_id == B


async def test_name_length_and_characters(chars: CharacterRepository) -> None:
    for bad, reason in (("", "length"), ("   ", "length"), ("x" * 33, "length"), ("two\nlines", "control")):
        with pytest.raises(InvalidName) as invalid:
            await chars.create(A, bad)
        assert (invalid.value.reason, invalid.value.limit) == (reason, 32)
    with pytest.raises(InvalidName):
        await chars.create(A, "tab\there")
    assert (await chars.create(A, " " + "y" * 32 + " ")).name == "y" * 32
    assert (await chars.create(A, "z")).name == "z"
    assert (await chars.create(A, "Zoë 🐱")).name == "Zoë 🐱"
    assert len(await chars.list(A)) == 3


async def test_rename(chars: CharacterRepository, clock: FakeClock) -> None:
    alice = await chars.create(A, "Alice")
    await chars.create(A, "Bob")
    clock.advance(5)
    renamed = await chars.rename(A, alice.id, "ALICE")  # a case change is fine
    assert (renamed.name, renamed.updated_at) == ("ALICE", clock())
    with pytest.raises(NameTaken):
        await chars.rename(A, alice.id, "bob")
    with pytest.raises(InvalidName):
        await chars.rename(A, alice.id, "")
    assert (await chars.rename(A, alice.id, "Carol")).name == "Carol"
    assert await chars.by_name(A, "alice") is None
    with pytest.raises(CharacterNotFound):
        await chars.rename(A, 9999, "Dave")


async def test_character_limit(chars: CharacterRepository) -> None:
    await chars.create(A, "one", max_characters=2)
    await chars.create(A, "two", max_characters=2)
    with pytest.raises(TooManyCharacters) as too_many:
        await chars.create(A, "three", max_characters=2)
    assert too_many.value.limit == 2
    await chars.create(B, "three", max_characters=2)


async def test_search_for_autocomplete(chars: CharacterRepository) -> None:
    for name in ("Mascot", "Max", "Emax", "Bob"):
        await chars.create(A, name)
    await chars.create(B, "Maximilian")
    assert [c.name for c in await chars.search(A, "MA")] == ["Mascot", "Max", "Emax"]  # prefix first
    assert [c.name for c in await chars.search(A, "ma", limit=2)] == ["Mascot", "Max"]
    assert [c.name for c in await chars.search(A, "")] == ["Bob", "Emax", "Mascot", "Max"]
    assert await chars.search(A, "zzz") == []
    assert [c.name for c in await chars.search(B, "")] == ["Maximilian"]


# -- isolation ----------------------------------------------------------------------------------


async def test_another_users_character_is_not_found(
    chars: CharacterRepository, db: Database, media: MediaStore
) -> None:
    alice = await chars.create(A, "Alice")
    first = await add_image(chars, A, alice.id, b"alice 1")
    await add_image(chars, A, alice.id, b"alice 2")
    before = await snapshot(db, media)

    assert await chars.get(B, alice.id) is None
    assert await chars.by_name(B, "Alice") is None
    assert await chars.list(B) == [] and await chars.search(B, "al") == []
    with pytest.raises(CharacterNotFound) as by_name:
        await chars.resolve(B, "Alice")
    assert str(by_name.value) == str(CharacterNotFound("Alice"))  # same words as a missing name
    attempts = [
        chars.references(B, alice.id),
        add_image(chars, B, alice.id, b"intruder"),
        chars.promote(B, alice.id, number=2, character_embedding=None),
        chars.promote(B, alice.id, ref_id=first.id, character_embedding=None),
        chars.prune(B, alice.id, number=1, character_embedding=None),
        chars.prune(B, alice.id, ref_id=first.id, character_embedding=None),
        chars.rename(B, alice.id, "Mine now"),
        chars.delete(B, alice.id),
        chars.set_embeddings(B, alice.id, {}, None),
    ]
    for attempt in attempts:
        with pytest.raises(CharacterNotFound) as info:
            await attempt
        assert str(info.value) == str(CharacterNotFound())  # indistinguishable from a missing id
    assert await snapshot(db, media) == before


async def test_a_reference_id_of_another_character_is_not_found(chars: CharacterRepository) -> None:
    mine = await chars.create(A, "Mine")
    await add_image(chars, A, mine.id, b"mine")
    theirs = await chars.create(B, "Theirs")
    their_ref = await add_image(chars, B, theirs.id, b"theirs")
    with pytest.raises(ReferenceNotFound):
        await chars.prune(A, mine.id, ref_id=their_ref.id, character_embedding=None)
    with pytest.raises(ReferenceNotFound):
        await chars.promote(A, mine.id, ref_id=their_ref.id, character_embedding=None)
    assert len(await chars.references(B, theirs.id)) == 1


# -- roles, numbers, promote, prune -----------------------------------------------------------


async def test_first_image_is_primary_and_numbers_follow(
    chars: CharacterRepository, media: MediaStore, clock: FakeClock
) -> None:
    alice = await chars.create(A, "Alice")
    clock.advance(1)
    first = await add_image(
        chars,
        A,
        alice.id,
        b"one",
        embedding=emb(1, 2, 3),
        face_box=(0.5, 1, 20, 30.25),
        quality={"warnings": ["blurry"], "sharpness": 0.25},
        character_embedding=emb(9, 9, 9),
    )
    assert (first.number, first.role, first.is_primary) == (1, RefRole.PRIMARY, True)
    assert first.embedding == emb(1, 2, 3) and first.face_box == (0.5, 1.0, 20.0, 30.25)
    assert first.quality == {"warnings": ["blurry"], "sharpness": 0.25} and first.warnings == ("blurry",)
    assert media.read(first.media, first.ext) == b"one" and first.created_at == clock()
    no_face = Embedding(None, "fake", 3)  # the backend looked and found no face
    second = await add_image(chars, A, alice.id, b"two", embedding=no_face, face_box=None, quality=None)
    third = await add_image(chars, A, alice.id, b"three", embedding=None, character_embedding=None)
    assert (second.number, second.role, second.embedding, second.face_box) == (2, "reference", no_face, None)
    assert (third.number, third.role, third.embedding, second.quality) == (3, "reference", None, {})
    assert [r.id for r in await chars.references(A, alice.id)] == [first.id, second.id, third.id]
    updated = await chars.get(A, alice.id)
    assert updated is not None and updated.image_count == 3
    assert updated.embedding is None and updated.updated_at == clock()  # the last call cleared it


async def test_the_same_image_twice_is_refused(chars: CharacterRepository, media: MediaStore) -> None:
    alice = await chars.create(A, "Alice")
    await add_image(chars, A, alice.id, b"one")
    await add_image(chars, A, alice.id, b"two")
    with pytest.raises(DuplicateImage) as duplicate:
        await add_image(chars, A, alice.id, b"two")
    assert (duplicate.value.character, duplicate.value.number) == ("Alice", 2)
    assert len(await chars.references(A, alice.id)) == 2 and len(media_files(media)) == 2
    bob = await chars.create(A, "Bob")  # the same image in another character is fine
    assert (await add_image(chars, A, bob.id, b"two")).number == 1
    assert len(media_files(media)) == 2


async def test_promote_swaps_with_the_primary(chars: CharacterRepository) -> None:
    alice = await chars.create(A, "Alice")
    refs = [await add_image(chars, A, alice.id, f"img {i}".encode(), embedding=emb(i)) for i in range(1, 5)]
    new_primary = await chars.promote(A, alice.id, number=3, character_embedding=emb(7, 7))
    assert (new_primary.id, new_primary.number, new_primary.role) == (refs[2].id, 1, RefRole.PRIMARY)
    after = await chars.references(A, alice.id)
    assert [r.id for r in after] == [refs[2].id, refs[1].id, refs[0].id, refs[3].id]
    assert [r.role.value for r in after] == ["primary", "reference", "reference", "reference"]
    assert (await chars.get(A, alice.id)).embedding == emb(7, 7)

    back = await chars.promote(A, alice.id, ref_id=refs[0].id, character_embedding=None)
    assert back.id == refs[0].id and back.number == 1
    again = await chars.promote(A, alice.id, number=1, character_embedding=emb(1))  # already primary
    assert again.id == refs[0].id
    assert [r.id for r in await chars.references(A, alice.id)] == [r.id for r in refs]

    with pytest.raises(ReferenceNotFound) as missing:
        await chars.promote(A, alice.id, number=9, character_embedding=None)
    assert (missing.value.character, missing.value.number, missing.value.count) == ("Alice", 9, 4)
    with pytest.raises(ValueError):
        await chars.promote(A, alice.id, number=1, ref_id=refs[0].id, character_embedding=None)
    with pytest.raises(ValueError):
        await chars.promote(A, alice.id, character_embedding=None)


async def test_prune_renumbers_and_the_next_image_succeeds_the_primary(
    chars: CharacterRepository, db: Database, media: MediaStore
) -> None:
    alice = await chars.create(A, "Alice")
    refs = [await add_image(chars, A, alice.id, f"img {i}".encode()) for i in range(1, 6)]

    removed = await chars.prune(A, alice.id, number=3, character_embedding=emb(3, 3))
    assert (removed.id, removed.number) == (refs[2].id, 3)
    assert not media.exists(removed.media, removed.ext)
    after = await chars.references(A, alice.id)
    assert [(r.id, r.number) for r in after] == [
        (refs[0].id, 1),
        (refs[1].id, 2),
        (refs[3].id, 3),
        (refs[4].id, 4),
    ]
    assert (await chars.get(A, alice.id)).embedding == emb(3, 3)

    removed = await chars.prune(A, alice.id, number=1, character_embedding=None)
    assert removed.id == refs[0].id and removed.is_primary
    after = await chars.references(A, alice.id)
    assert [(r.id, r.number, r.role.value) for r in after] == [
        (refs[1].id, 1, "primary"),
        (refs[3].id, 2, "reference"),
        (refs[4].id, 3, "reference"),
    ]
    with pytest.raises(ReferenceNotFound) as missing:
        await chars.prune(A, alice.id, number=4, character_embedding=None)
    assert missing.value.number == 4

    await chars.prune(A, alice.id, ref_id=refs[4].id, character_embedding=None)
    await chars.prune(A, alice.id, number=1, character_embedding=None)
    last = await chars.references(A, alice.id)
    assert [(r.id, r.number, r.role.value) for r in last] == [(refs[3].id, 1, "primary")]
    await chars.prune(A, alice.id, number=1, character_embedding=None)
    assert await chars.references(A, alice.id) == []
    assert media_files(media) == set() and await db.fetchval("SELECT COUNT(*) FROM media") == 0
    # An emptied character starts over with a new primary.
    assert (await add_image(chars, A, alice.id, b"fresh")).role is RefRole.PRIMARY


async def test_prune_keeps_a_file_another_row_uses(
    chars: CharacterRepository, repo: JobRepository, media: MediaStore
) -> None:
    alice = await chars.create(A, "Alice")
    bob = await chars.create(B, "Bob")
    ref = await add_image(chars, A, alice.id, b"shared face")
    other = await add_image(chars, B, bob.id, b"shared face")
    job = await add(repo, A, input=(b"shared face", PNG))
    assert ref.media == other.media == job.input_media
    await chars.prune(A, alice.id, number=1, character_embedding=None)
    assert media.read(other.media, PNG) == b"shared face"
    await chars.prune(B, bob.id, number=1, character_embedding=None)
    assert media.read(job.input_media, PNG) == b"shared face"  # the job still needs it
    assert await repo.delete_job(job.id, A)
    assert media_files(media) == set()


# -- limits and atomicity -----------------------------------------------------------------------


async def test_a_full_set_is_refused_and_nothing_is_written(
    chars: CharacterRepository, db: Database, media: MediaStore
) -> None:
    alice = await chars.create(A, "Alice")
    for i in range(20):
        await add_image(chars, A, alice.id, f"img {i}".encode())
    before = await snapshot(db, media)
    with pytest.raises(SetFull) as full:
        await add_image(chars, A, alice.id, b"one too many")
    assert (full.value.character, full.value.limit) == ("Alice", 20)
    assert await snapshot(db, media) == before
    refs = await chars.references(A, alice.id)
    assert [r.number for r in refs] == list(range(1, 21))
    await chars.prune(A, alice.id, number=20, character_embedding=None)
    assert (await add_image(chars, A, alice.id, b"now it fits")).number == 20


async def test_concurrent_adds_respect_the_cap(
    chars: CharacterRepository, db: Database, media: MediaStore
) -> None:
    alice = await chars.create(A, "Alice")

    async def attempt(i: int) -> bool:
        try:
            await add_image(chars, A, alice.id, f"img {i}".encode(), max_images=4)
        except SetFull:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(10)))
    assert sum(results) == 4
    refs = await chars.references(A, alice.id)
    assert [r.number for r in refs] == [1, 2, 3, 4] and refs[0].is_primary
    assert await db.fetchval("SELECT COUNT(*) FROM media") == 4 and len(media_files(media)) == 4


async def test_failure_after_the_file_write_leaves_no_row_and_no_file(
    chars: CharacterRepository,
    repo: JobRepository,
    db: Database,
    media: MediaStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = await chars.create(A, "Alice")
    await add_image(chars, A, alice.id, b"kept")
    job = await add(repo, B, input=(b"shared", PNG))
    before = await snapshot(db, media)
    fail_on(monkeypatch, db, "INSERT INTO reference_images")
    for data in (b"brand new", b"shared"):
        with pytest.raises(sqlite3.OperationalError, match="injected"):
            await add_image(chars, A, alice.id, data, character_embedding=emb(5))
    monkeypatch.undo()
    assert await snapshot(db, media) == before  # no row, no new file, embedding unchanged
    assert media.read(job.input_media, PNG) == b"shared"  # another row's file survives
    assert not any(media.is_pinned(p.name.split(".")[0]) for p in media_files(media))


async def test_a_failed_file_write_leaves_nothing(
    chars: CharacterRepository, db: Database, media: MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await chars.create(A, "Alice")
    before = await snapshot(db, media)

    def disk_full(data: bytes, ext: str) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(media, "pin_put", disk_full)
    with pytest.raises(OSError, match="disk full"):
        await add_image(chars, A, alice.id, b"img")
    assert await snapshot(db, media) == before


async def test_bad_arguments_are_refused_before_anything_is_written(
    chars: CharacterRepository, db: Database, media: MediaStore
) -> None:
    alice = await chars.create(A, "Alice")
    before = await snapshot(db, media)
    bad: list[dict[str, Any]] = [
        {"embedding": Embedding(b"\0" * 5, "fake", 2)},  # 5 bytes is not 2 float32s
        {"embedding": Embedding(b"\0" * 8, "", 2)},
        {"character_embedding": (b"\0" * 4, "fake", 0)},
        {"face_box": (1, 2, 3)},
        {"face_box": (30, 2, 1, 40)},
        {"quality": {"score": float("nan")}},
    ]
    for kw in bad:
        with pytest.raises(ValueError):
            await add_image(chars, A, alice.id, b"img", **kw)
    with pytest.raises(ValueError):
        await chars.add_reference(
            A,
            alice.id,
            (b"img", "../x"),
            embedding=None,
            face_box=None,
            quality=None,
            character_embedding=None,
        )
    assert await snapshot(db, media) == before


async def test_based_on_detects_a_concurrent_change(chars: CharacterRepository) -> None:
    alice = await chars.create(A, "Alice")
    one = await add_image(chars, A, alice.id, b"one", based_on=[])
    seen = [r.id for r in await chars.references(A, alice.id)]
    await add_image(chars, A, alice.id, b"two", based_on=seen)  # still what the caller read
    with pytest.raises(CharacterChanged) as changed:
        await add_image(chars, A, alice.id, b"three", based_on=seen)  # stale: misses "two"
    assert changed.value.character == "Alice"
    with pytest.raises(CharacterChanged):
        await chars.promote(A, alice.id, number=2, character_embedding=None, based_on=[one.id])
    with pytest.raises(CharacterChanged):
        await chars.prune(A, alice.id, number=2, character_embedding=None, based_on=[one.id])
    assert len(await chars.references(A, alice.id)) == 2


# -- deleting -----------------------------------------------------------------------------------


async def test_delete_removes_images_and_unshared_files(
    chars: CharacterRepository, repo: JobRepository, db: Database, media: MediaStore
) -> None:
    alice = await chars.create(A, "Alice")
    await add_image(chars, A, alice.id, b"one")
    await add_image(chars, A, alice.id, b"two")
    await add_image(chars, A, alice.id, b"shared")
    job = await add(repo, A, input=(b"shared", PNG))
    await db.execute("UPDATE jobs SET character_id = ? WHERE id = ?", (alice.id, job.id))

    deleted = await chars.delete(A, alice.id)
    assert (deleted.character.name, deleted.images, deleted.files) == ("Alice", 3, 2)
    assert await chars.get(A, alice.id) is None and await chars.list(A) == []
    assert await db.fetchval("SELECT COUNT(*) FROM reference_images") == 0
    assert await db.fetchval("SELECT character_id FROM jobs WHERE id = ?", (job.id,)) is None
    assert [p.read_bytes() for p in media_files(media)] == [b"shared"]
    with pytest.raises(CharacterNotFound):
        await chars.delete(A, alice.id)
    assert (await chars.create(A, "alice")).name == "alice"  # the name is free again


# -- embeddings ---------------------------------------------------------------------------------


async def test_recompute_after_a_backend_change(chars: CharacterRepository) -> None:
    alice = await chars.create(A, "Alice")
    bob = await chars.create(B, "Bob")
    empty = await chars.create(B, "Empty")
    a1 = await add_image(chars, A, alice.id, b"a1", embedding=emb(1, backend="old"))
    a2 = await add_image(chars, A, alice.id, b"a2", embedding=None)
    await add_image(chars, B, bob.id, b"b1", embedding=emb(2, backend="old"))

    pending = [(c.id, [r.id for r in refs]) async for c, refs in chars.needing_embeddings("new", 2, batch=1)]
    assert pending == [(alice.id, [a1.id, a2.id]), (bob.id, [(await chars.references(B, bob.id))[0].id])]
    assert empty.id not in [c for c, _ in pending]

    with pytest.raises(CharacterChanged):  # must cover exactly the current images
        await chars.set_embeddings(A, alice.id, {a1.id: emb(1, 1, backend="new")}, None)
    with pytest.raises(CharacterNotFound):
        await chars.set_embeddings(B, alice.id, {a1.id: None, a2.id: None}, None)
    updated = await chars.set_embeddings(
        A,
        alice.id,
        {a1.id: emb(1, 1, backend="new"), a2.id: (None, "new", 2)},  # plain tuples work too
        emb(0.5, 0.5, backend="new"),
    )
    assert updated.embedding == emb(0.5, 0.5, backend="new")
    refs = await chars.references(A, alice.id)
    assert [r.embedding for r in refs] == [emb(1, 1, backend="new"), Embedding(None, "new", 2)]
    assert [c.id async for c, _ in chars.needing_embeddings("new", 2)] == [bob.id]
    # Bob's image is "old", but his combined embedding came from yet another backend.
    assert [c.id async for c, _ in chars.needing_embeddings("old", 1)] == [alice.id, bob.id]


# -- schema -------------------------------------------------------------------------------------


async def test_migration_applies_to_a_database_with_data(
    tmp_path: Path, media: MediaStore, clock: FakeClock
) -> None:
    only_first = tmp_path / "only_0001"
    only_first.mkdir()
    shutil.copy(Path(str(default_migrations().joinpath("0001_init.sql"))), only_first / "0001_init.sql")
    path = tmp_path / "old.sqlite3"
    async with await Database.open(path, migrations=only_first) as old:
        assert await old.schema_version() == 1
        # the 0001 columns only (today's JobRepository writes columns added later)
        sha = media.put(b"old input", PNG)
        await old.execute("INSERT INTO media VALUES (?, ?, ?, ?)", (sha, PNG, len(b"old input"), clock()))
        job_id = await old.fetchval(
            "INSERT INTO jobs (user_id, status, mode, prompt, cfg, steps, seed, candidates, image_weight, "
            "aspect, input_media, created_at) "
            "VALUES (?, 'queued', 'text', 'old', 7, 4, 1, 1, 0.6, '1:1', ?, ?) "
            "RETURNING id",
            (A, sha, clock()),
        )

    async with await Database.open(path) as db:
        assert await db.schema_version() >= 3
        repo = repository(db, media, clock=clock)
        job = await repo.get(job_id)
        assert job is not None and job.params.prompt == "old" and job.input_media == sha
        assert job.character_id is None and job.params.face is None
        assert await db.fetchval("SELECT character_id FROM jobs WHERE id = ?", (job.id,)) is None
        chars = CharacterRepository(db, media, clock=clock)
        alice = await chars.create(A, "Alice")
        ref = await add_image(chars, A, alice.id, b"old input")  # shares the old job's file
        assert ref.media == job.input_media
        with pytest.raises(sqlite3.IntegrityError):  # the new column is a real foreign key
            await db.execute("UPDATE jobs SET character_id = 999 WHERE id = ?", (job.id,))
        assert await db.fetchall("PRAGMA foreign_key_check") == []


async def test_schema_enforces_one_primary_and_unique_numbers(
    chars: CharacterRepository, db: Database
) -> None:
    alice = await chars.create(A, "Alice")
    first = await add_image(chars, A, alice.id, b"one")
    await add_image(chars, A, alice.id, b"two")
    for sql in (
        "UPDATE reference_images SET role = 'primary' WHERE position = 2",  # two primaries / role≠position
        "UPDATE reference_images SET position = 1 WHERE position = 2",  # duplicate number
        "UPDATE reference_images SET position = 0 WHERE position = 2",  # numbers start at 1
    ):
        with pytest.raises(sqlite3.IntegrityError):
            await db.execute(sql)
    assert (await chars.references(A, alice.id))[0].id == first.id


async def test_new_storage_modules_import_nothing_from_the_bot() -> None:
    code = (
        "import sys, storage.characters, storage.character_rows, storage.users, storage.media_rows; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'bot', 'cogs', 'discord', 'torch', 'numpy'}))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
