"""Character reference sets: one user's images of one person, mascot or product.

Privacy: every method takes the acting ``user_id`` and only ever reads or writes that user's
rows. Another user's character id or name behaves exactly like one that does not exist
(``CharacterNotFound``, nothing changed); ``needing_embeddings`` is the one cross-user reader,
for an operator's recompute command.

Numbering (defined in ``storage.character_rows``): an image's number is its stored position,
1..n without gaps, and the primary is always number 1.

Embeddings: the caller (bot/, with numpy) computes each image's embedding and the character's
combined one; storage keeps the bytes. Methods that change the set take the new combined
``character_embedding`` and store it in the same transaction. ``based_on`` (optional) is the set
of reference ids the caller read when it computed that embedding: if the set has changed since
(a concurrent add or prune), ``CharacterChanged`` is raised and nothing is written.

Files follow the order in ``storage.media_rows``: written (pinned) before the transaction,
removed after the commit when no row uses them any more. Deletes run with
``PRAGMA secure_delete`` and end with a WAL checkpoint (``secure_delete``), so removed embeddings
linger neither in free database pages nor in the WAL.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from typing import Any

import aiosqlite

from storage.character_rows import (
    CharacterRow,
    DeletedCharacter,
    Embedding,
    FaceBox,
    ReferenceRow,
    RefRole,
    embedding_columns,
    face_box_json,
    quality_json,
)
from storage.db import Database
from storage.errors import (
    CharacterChanged,
    CharacterNotFound,
    DuplicateImage,
    InvalidName,
    NameTaken,
    ReferenceNotFound,
    SetFull,
    TooManyCharacters,
)
from storage.media import MediaStore, PutResult, normalize_ext
from storage.media_rows import FileSpec, MediaKey, MediaRows, secure_delete
from storage.usage import check_quota, new_files

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 32
DEFAULT_MAX_IMAGES = 20
MAX_SEARCH_RESULTS = 25  # Discord shows at most 25 autocomplete choices
# Positions are moved out of the way by this much while renumbering, so no intermediate state
# collides with UNIQUE (character_id, position) or breaks the role/position CHECK.
_SHIFT = 1_000_000

EmbeddingArg = Embedding | tuple[bytes | None, str, int] | None
CharacterList = list[CharacterRow]
ReferenceList = list[ReferenceRow]

_CHAR_COLUMNS = (
    "c.id, c.user_id, c.name, c.created_at, c.updated_at, c.embedding, c.embedding_backend, "
    "c.embedding_dim, (SELECT COUNT(*) FROM reference_images AS r WHERE r.character_id = c.id) AS image_count"
)
_SELECT_CHAR = f"SELECT {_CHAR_COLUMNS} FROM characters AS c"
_SELECT_REF = (
    "SELECT r.id, r.character_id, r.media, m.ext, r.role, r.position, r.embedding, r.embedding_backend, "
    "r.embedding_dim, r.face_box, r.quality, r.created_at "
    "FROM reference_images AS r JOIN media AS m ON m.sha256 = r.media"
)
_INSERT_REF = (
    "INSERT INTO reference_images (character_id, media, role, position, embedding, embedding_backend, "
    "embedding_dim, face_box, quality, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_SET_CHAR_EMBEDDING = (
    "UPDATE characters SET embedding = ?, embedding_backend = ?, embedding_dim = ?, updated_at = ? "
    "WHERE id = ?"
)
# A character needs a recompute when any image, or its combined embedding, was made by another
# backend (or never made: NULL backend). Images where the current backend found no face are done.
_NEEDING_EMBEDDINGS = f"""
{_SELECT_CHAR}
WHERE c.id > :after AND (
    EXISTS (SELECT 1 FROM reference_images AS r WHERE r.character_id = c.id
            AND (r.embedding_backend IS NOT :backend OR r.embedding_dim IS NOT :dim))
    OR (c.embedding_backend IS NOT NULL
        AND (c.embedding_backend IS NOT :backend OR c.embedding_dim IS NOT :dim))
)
ORDER BY c.id LIMIT :limit
"""


# -- names ------------------------------------------------------------------------------------------


def clean_name(name: str) -> tuple[str, str]:
    """``(name as stored, name_key)``. Stored: NFC, stripped. Key: NFKC, casefolded, runs of
    whitespace collapsed — two names with the same key are the same name. Raises InvalidName."""
    shown = unicodedata.normalize("NFC", str(name)).strip()
    if not 1 <= len(shown) <= MAX_NAME_CHARS:
        raise InvalidName("length", MAX_NAME_CHARS)
    if any(unicodedata.category(ch) in {"Cc", "Zl", "Zp"} for ch in shown):
        raise InvalidName("control", MAX_NAME_CHARS)
    return shown, name_key(shown)


def name_key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


# -- the repository ---------------------------------------------------------------------------------


class CharacterRepository:
    """All character persistence; every public method is atomic."""

    def __init__(
        self,
        db: Database,
        media: MediaStore,
        *,
        clock: Callable[[], float] = time.time,
        min_free_bytes: int = 0,
    ) -> None:
        """No image is written when it would leave less than ``min_free_bytes`` free on the disk."""
        self._db = db
        self._media = media
        self._files = MediaRows(db, media, min_free_bytes=min_free_bytes)
        self._clock = clock

    # -- characters ---------------------------------------------------------------------------

    async def create(self, user_id: int, name: str, *, max_characters: int | None = None) -> CharacterRow:
        """A new, empty character. Raises InvalidName, NameTaken, TooManyCharacters."""
        shown, key = clean_name(name)
        now = self._clock()
        async with self._db.transaction():
            await self._ensure_name_free(user_id, key)
            if max_characters is not None:
                have = int(
                    await self._db.fetchval("SELECT COUNT(*) FROM characters WHERE user_id = ?", (user_id,))
                )
                if have >= max_characters:
                    raise TooManyCharacters(max_characters)
            row = await self._db.fetchone(
                "INSERT INTO characters (user_id, name, name_key, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (user_id, shown, key, now, now),
            )
            assert row is not None
            created = await self._character(user_id, row[0])
        log.debug("user %d created character %d", user_id, created.id)
        return created

    async def get(self, user_id: int, character_id: int) -> CharacterRow | None:
        """The user's character, or None (also for another user's id)."""
        row = await self._db.fetchone(
            f"{_SELECT_CHAR} WHERE c.id = ? AND c.user_id = ?", (character_id, user_id)
        )
        return None if row is None else CharacterRow.from_row(row)

    async def by_name(self, user_id: int, name: str) -> CharacterRow | None:
        """The user's character with this name (case-insensitive), or None."""
        row = await self._db.fetchone(
            f"{_SELECT_CHAR} WHERE c.user_id = ? AND c.name_key = ?", (user_id, name_key(name))
        )
        return None if row is None else CharacterRow.from_row(row)

    async def resolve(self, user_id: int, name: str) -> CharacterRow:
        """Like ``by_name`` but raises CharacterNotFound (with a message naming it) when absent."""
        found = await self.by_name(user_id, name)
        if found is None:
            raise CharacterNotFound(name.strip())
        return found

    async def list(self, user_id: int) -> CharacterList:
        """The user's characters, by name."""
        rows = await self._db.fetchall(f"{_SELECT_CHAR} WHERE c.user_id = ? ORDER BY c.name_key", (user_id,))
        return [CharacterRow.from_row(r) for r in rows]

    async def search(self, user_id: int, prefix: str, limit: int = MAX_SEARCH_RESULTS) -> CharacterList:
        """For autocomplete: names starting with ``prefix`` first, then names containing it, each
        by name; case-insensitive. An empty prefix lists everything."""
        key = name_key(prefix)
        rows = await self._db.fetchall(
            f"{_SELECT_CHAR} WHERE c.user_id = :user AND instr(c.name_key, :key) > 0 "
            "ORDER BY substr(c.name_key, 1, length(:key)) <> :key, c.name_key LIMIT :limit",
            {"user": user_id, "key": key, "limit": max(0, min(limit, 1000))},
        )
        return [CharacterRow.from_row(r) for r in rows]

    async def rename(self, user_id: int, character_id: int, new_name: str) -> CharacterRow:
        """Raises InvalidName, NameTaken (another of the user's characters), CharacterNotFound.
        Changing only the case of the name is allowed."""
        shown, key = clean_name(new_name)
        async with self._db.transaction():
            await self._owned(user_id, character_id)
            await self._ensure_name_free(user_id, key, besides=character_id)
            await self._db.execute(
                "UPDATE characters SET name = ?, name_key = ?, updated_at = ? WHERE id = ? AND user_id = ?",
                (shown, key, self._clock(), character_id, user_id),
            )
            return await self._character(user_id, character_id)

    async def delete(self, user_id: int, character_id: int) -> DeletedCharacter:
        """The character, all its images, and their files unless another row uses them.
        Jobs made for it keep running without it (``jobs.character_id`` becomes NULL)."""
        async with secure_delete(self._db, "deleting a character"):
            async with self._db.transaction():
                character = await self._character(user_id, character_id)
                shas = [
                    r[0]
                    for r in await self._db.fetchall(
                        "SELECT media FROM reference_images WHERE character_id = ?", (character_id,)
                    )
                ]
                await self._db.execute(
                    "DELETE FROM characters WHERE id = ? AND user_id = ?", (character_id, user_id)
                )
                removed = await self._files.delete_unreferenced(shas)
            await self._files.remove_files(removed)
        log.debug("user %d deleted character %d (%d images)", user_id, character_id, len(shas))
        return DeletedCharacter(character, len(shas), len(removed))

    # -- reference images ---------------------------------------------------------------------

    async def references(self, user_id: int, character_id: int) -> ReferenceList:
        """The character's images by number (the primary first). Raises CharacterNotFound."""
        async with self._db.locked():
            await self._owned(user_id, character_id)
            return await self._references(character_id)

    async def check_room(self, user_id: int, image: FileSpec, *, max_stored_bytes: int | None) -> None:
        """What ``add_reference`` would refuse for room alone (QuotaExceeded, DiskFull), read cheaply,
        so the caller can refuse before its own expensive work (face analysis)."""
        new = await asyncio.to_thread(new_files, [image])
        await check_quota(self._db, user_id, new, max_stored_bytes)
        self._files.check_free(len(image[0]))

    async def add_reference(
        self,
        user_id: int,
        character_id: int,
        image: FileSpec,
        *,
        embedding: EmbeddingArg,
        face_box: FaceBox | None,
        quality: Mapping[str, Any] | None,
        character_embedding: EmbeddingArg,
        based_on: Collection[int] | None = None,
        max_images: int = DEFAULT_MAX_IMAGES,
        max_stored_bytes: int | None = None,
    ) -> ReferenceRow:
        """Add an image ``(data, ext)``: the primary when the character has none, otherwise the
        next number. Stores ``character_embedding`` (computed by the caller including this image).
        Raises CharacterNotFound, SetFull, DuplicateImage, CharacterChanged, QuotaExceeded (what
        the user stores would exceed ``max_stored_bytes``), DiskFull — with no row written and no
        file left behind (a file another row uses is of course kept)."""
        if not 1 <= max_images < _SHIFT:
            raise ValueError(f"max_images must be in 1..{_SHIFT - 1}")
        data, ext = image
        normalize_ext(ext)  # refuse a bad extension before writing anything
        columns = embedding_columns(Embedding.checked(embedding))
        combined = embedding_columns(Embedding.checked(character_embedding))
        box, report = face_box_json(face_box), quality_json(quality)
        # Cheap refusal before writing the file; the transaction below checks again.
        name, count = await self._owned(user_id, character_id)
        if count >= max_images:
            raise SetFull(name, max_images)
        await self.check_room(user_id, image, max_stored_bytes=max_stored_bytes)

        written: list[PutResult] = []
        described: set[MediaKey] | None = None
        try:
            await self._files.write([(data, ext)], written)
            sha = written[0].sha256
            now = self._clock()
            async with self._db.transaction():
                name, _ = await self._owned(user_id, character_id)
                current = await self._db.fetchall(
                    "SELECT id, media, position FROM reference_images WHERE character_id = ?", (character_id,)
                )
                self._check_based_on(name, current, based_on)
                same = next((r for r in current if r["media"] == sha), None)
                if same is not None:
                    raise DuplicateImage(name, same["position"])
                if len(current) >= max_images:
                    raise SetFull(name, max_images)
                await check_quota(self._db, user_id, [(p.sha256, p.size) for p in written], max_stored_bytes)
                stored = await self._files.insert(written, now)
                position = len(current) + 1
                role = RefRole.PRIMARY if position == 1 else RefRole.REFERENCE
                row = await self._db.fetchone(
                    _INSERT_REF, (character_id, sha, role.value, position, *columns, box, report, now)
                )
                assert row is not None
                await self._db.execute(_SET_CHAR_EMBEDDING, (*combined, now, character_id))
                added = await self._reference(row[0])
            described = stored
            log.debug("user %d added image %d to character %d", user_id, added.id, character_id)
            return added
        finally:
            await self._files.settle(written, described)

    async def promote(
        self,
        user_id: int,
        character_id: int,
        *,
        number: int | None = None,
        ref_id: int | None = None,
        character_embedding: EmbeddingArg,
        based_on: Collection[int] | None = None,
    ) -> ReferenceRow:
        """Make image ``number`` (or ``ref_id``) the primary: it becomes number 1 and the old
        primary takes its number. Returns the new primary. Raises CharacterNotFound,
        ReferenceNotFound, CharacterChanged."""
        combined = embedding_columns(Embedding.checked(character_embedding))
        async with self._db.transaction():
            name, _ = await self._owned(user_id, character_id)
            current = await self._db.fetchall(
                "SELECT id, position FROM reference_images WHERE character_id = ?", (character_id,)
            )
            self._check_based_on(name, current, based_on)
            target = self._pick(name, current, number, ref_id)
            k = int(target["position"])
            if k != 1:
                await self._db.execute(
                    "UPDATE reference_images SET role = 'reference', position = ? "
                    "WHERE character_id = ? AND position = 1",
                    (k + _SHIFT, character_id),
                )
                await self._db.execute(
                    "UPDATE reference_images SET role = 'primary', position = 1 WHERE id = ?", (target["id"],)
                )
                await self._db.execute(
                    "UPDATE reference_images SET position = ? WHERE character_id = ? AND position = ?",
                    (k, character_id, k + _SHIFT),
                )
            await self._db.execute(_SET_CHAR_EMBEDDING, (*combined, self._clock(), character_id))
            return await self._reference(target["id"])

    async def prune(
        self,
        user_id: int,
        character_id: int,
        *,
        number: int | None = None,
        ref_id: int | None = None,
        character_embedding: EmbeddingArg,
        based_on: Collection[int] | None = None,
    ) -> ReferenceRow:
        """Remove image ``number`` (or ``ref_id``); later images move up one number, and when the
        primary goes, the next image (number 2) becomes the primary. The file is deleted unless
        another row uses it. Returns the removed image as it was. Raises CharacterNotFound,
        ReferenceNotFound, CharacterChanged."""
        combined = embedding_columns(Embedding.checked(character_embedding))
        async with secure_delete(self._db, "removing a reference image"):
            async with self._db.transaction():
                name, _ = await self._owned(user_id, character_id)
                current = await self._db.fetchall(
                    "SELECT id, position FROM reference_images WHERE character_id = ?", (character_id,)
                )
                self._check_based_on(name, current, based_on)
                target = self._pick(name, current, number, ref_id)
                removed_row = await self._reference(target["id"])
                k = removed_row.position
                await self._db.execute("DELETE FROM reference_images WHERE id = ?", (removed_row.id,))
                await self._db.execute(
                    "UPDATE reference_images SET position = position + :shift "
                    "WHERE character_id = :c AND position > :k",
                    {"shift": _SHIFT, "c": character_id, "k": k},
                )
                await self._db.execute(
                    "UPDATE reference_images SET position = position - :shift - 1, "
                    "role = CASE WHEN position - :shift - 1 = 1 THEN 'primary' ELSE 'reference' END "
                    "WHERE character_id = :c AND position > :shift",
                    {"shift": _SHIFT, "c": character_id},
                )
                await self._db.execute(_SET_CHAR_EMBEDDING, (*combined, self._clock(), character_id))
                files = await self._files.delete_unreferenced([removed_row.media])
            await self._files.remove_files(files)
        log.debug("user %d removed image %d from character %d", user_id, removed_row.id, character_id)
        return removed_row

    # -- embeddings ---------------------------------------------------------------------------

    async def set_embeddings(
        self,
        user_id: int,
        character_id: int,
        per_reference: Mapping[int, EmbeddingArg],
        character_embedding: EmbeddingArg,
    ) -> CharacterRow:
        """Replace every image's embedding (keyed by reference id; None clears one) and the
        combined one, e.g. after a backend change. The keys must be exactly the character's
        current reference ids, else CharacterChanged (an image came or went meanwhile)."""
        updates = [
            (*embedding_columns(Embedding.checked(e)), ref_id, character_id)
            for ref_id, e in per_reference.items()
        ]
        combined = embedding_columns(Embedding.checked(character_embedding))
        async with self._db.transaction():
            name, _ = await self._owned(user_id, character_id)
            current = await self._db.fetchall(
                "SELECT id FROM reference_images WHERE character_id = ?", (character_id,)
            )
            self._check_based_on(name, current, per_reference.keys())
            if updates:
                await self._db.executemany(
                    "UPDATE reference_images SET embedding = ?, embedding_backend = ?, embedding_dim = ? "
                    "WHERE id = ? AND character_id = ?",
                    updates,
                )
            await self._db.execute(_SET_CHAR_EMBEDDING, (*combined, self._clock(), character_id))
            return await self._character(user_id, character_id)

    async def needing_embeddings(
        self, backend: str, dim: int, *, batch: int = 50
    ) -> AsyncIterator[tuple[CharacterRow, ReferenceList]]:
        """Every character (all users, by id) with an image or combined embedding not made by
        ``backend``/``dim``, with its images — for an operator's recompute command, which then
        calls ``set_embeddings(row.user_id, row.id, …)``. Reads in batches; no lock is held
        between them, so the caller may compute at leisure (``set_embeddings`` detects changes)."""
        after = 0
        while True:
            rows = await self._db.fetchall(
                _NEEDING_EMBEDDINGS, {"after": after, "backend": backend, "dim": dim, "limit": batch}
            )
            if not rows:
                return
            for row in rows:
                character = CharacterRow.from_row(row)
                yield character, await self._references(character.id)
            after = rows[-1]["id"]

    # -- helpers ------------------------------------------------------------------------------

    async def _owned(self, user_id: int, character_id: int) -> tuple[str, int]:
        """(name, image count) of the user's character; CharacterNotFound otherwise."""
        row = await self._db.fetchone(
            "SELECT c.name, (SELECT COUNT(*) FROM reference_images AS r WHERE r.character_id = c.id) "
            "FROM characters AS c WHERE c.id = ? AND c.user_id = ?",
            (character_id, user_id),
        )
        if row is None:
            raise CharacterNotFound()
        return row[0], int(row[1])

    async def _character(self, user_id: int, character_id: int) -> CharacterRow:
        found = await self.get(user_id, character_id)
        if found is None:
            raise CharacterNotFound()
        return found

    async def _ensure_name_free(self, user_id: int, key: str, *, besides: int | None = None) -> None:
        taken = await self._db.fetchval(
            "SELECT name FROM characters WHERE user_id = ? AND name_key = ? AND id IS NOT ?",
            (user_id, key, besides),
        )
        if taken is not None:
            raise NameTaken(taken)

    async def _references(self, character_id: int) -> ReferenceList:
        rows = await self._db.fetchall(
            f"{_SELECT_REF} WHERE r.character_id = ? ORDER BY r.position", (character_id,)
        )
        return [ReferenceRow.from_row(r) for r in rows]

    async def _reference(self, ref_id: int) -> ReferenceRow:
        row = await self._db.fetchone(f"{_SELECT_REF} WHERE r.id = ?", (ref_id,))
        assert row is not None
        return ReferenceRow.from_row(row)

    @staticmethod
    def _check_based_on(
        name: str, current: Sequence[aiosqlite.Row], based_on: Collection[int] | None
    ) -> None:
        if based_on is not None and {int(i) for i in based_on} != {int(r["id"]) for r in current}:
            raise CharacterChanged(name)

    @staticmethod
    def _pick(
        name: str, current: Sequence[aiosqlite.Row], number: int | None, ref_id: int | None
    ) -> aiosqlite.Row:
        """The image with this number or id, among the character's own (ReferenceNotFound)."""
        if (number is None) == (ref_id is None):
            raise ValueError("give exactly one of number= or ref_id=")
        key, wanted = ("position", number) if number is not None else ("id", ref_id)
        found = next((r for r in current if r[key] == wanted), None)
        if found is None:
            raise ReferenceNotFound(name, len(current), number)
        return found
