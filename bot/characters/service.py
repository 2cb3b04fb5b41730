"""Character reference sets: analyse an upload, check its quality, store it with its embedding;
promote and prune; score each reference against the rest.

Face analysis runs on the GPU worker thread (insightface may use CUDA; never on the event loop) and
counts against its user's work limit. The set's embedding (primary weighted double, see
``set_embedding``) is recomputed on every change and stored in the same transaction as the change,
guarded by ``based_on`` against a concurrent edit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.characters.identity import reference_vector
from bot.engine.faces.quality import QualityReport, QualityRules, assess_reference
from bot.engine.faces.similarity import consistency, set_embedding
from bot.engine.identity import embedding_bytes
from bot.engine.images import load_image
from bot.engine.uploads import check_image
from bot.errors import LikenessError, ReferenceRefused
from bot.explain import explain
from bot.running.decodes import DecodePool
from bot.running.inflight import WorkInFlight
from bot.running.worker import GpuWorker
from storage import (
    CharacterRepository,
    CharacterRow,
    DeletedCharacter,
    Embedding,
    ReferenceRow,
    StorageError,
)


@dataclass(frozen=True, slots=True)
class AddOutcome:
    """One uploaded image: added as ``number`` (with warnings), or refused with ``error``."""

    filename: str
    number: int | None
    primary: bool
    warnings: tuple[str, ...]
    error: str | None
    code: str | None = None  # the error's kind (``bot.explain``'s codes; "reference_refused": quality)


@dataclass(frozen=True, slots=True)
class Created:
    """A new character (as stored after its first image), and that image's outcome if one came."""

    character: CharacterRow
    added: AddOutcome | None


@dataclass(frozen=True, slots=True)
class ReferenceScore:
    ref: ReferenceRow
    score: float | None  # similarity to the rest of the set; None without a face embedding
    outlier: bool


def embedding(vector: np.ndarray, backend: str) -> Embedding:
    """A vector as storage keeps it, with the backend that made it."""
    return Embedding(embedding_bytes(vector), backend, int(vector.shape[0]))


class CharacterService:
    def __init__(
        self,
        repo: CharacterRepository,
        worker: GpuWorker,
        *,
        backend: str,
        max_stored_bytes: int | None = None,
        max_characters: int | None = None,
        in_flight: WorkInFlight | None = None,
        decodes: DecodePool | None = None,
    ) -> None:
        """``backend`` names the face backend whose embeddings are compared; ``max_stored_bytes`` is
        the per-user storage quota, ``max_characters`` how many sets a user may keep; ``in_flight``
        counts each face analysis against its user's work limit (None: unbounded, for the operator's
        command line); ``decodes`` decodes uploads (None: the default thread pool, unbounded)."""
        self.repo = repo
        self.decodes = decodes
        self.max_characters = max_characters
        self.worker = worker
        self.backend = backend
        self.rules = QualityRules.for_backend(backend)
        self.max_stored_bytes = max_stored_bytes
        self.in_flight = in_flight
        self._locks: dict[int, asyncio.Lock] = {}

    def _lock(self, user_id: int) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    def analysis(self, user_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """A slot for one face analysis on the worker (``QueueFull`` when the user has none left)."""
        if self.in_flight is None:
            return contextlib.nullcontext()
        return self.in_flight.analysis(user_id)

    # -- the set itself -------------------------------------------------------------------------
    async def create(
        self, user_id: int, name: str, image: tuple[str, bytes] | None = None, *, force: bool = False
    ) -> Created:
        """A new character, with ``image`` (filename, bytes) as its primary when given. A refused
        image leaves no character behind: its reason is raised (``ReferenceRefused``, or the error
        that stopped it: not an image, the quota, …), and nothing is half-made. With an image, the
        user's work limit is checked first: its face analysis counts as work."""
        if image is not None and self.in_flight is not None:
            await self.in_flight.check(user_id)
        character = await self.repo.create(user_id, name, max_characters=self.max_characters)
        if image is None:
            return Created(character, None)
        try:
            async with self._lock(user_id):
                outcome = await self._add_one(user_id, character, *image, force)
        except BaseException:
            await self.repo.delete(user_id, character.id)
            raise
        if outcome.error is not None:
            await self.repo.delete(user_id, character.id)
            raise ReferenceRefused(f"“{character.name}” was not created: {outcome.error}")
        return Created(await self.repo.resolve(user_id, character.name), outcome)

    async def rename(self, user_id: int, name: str, new_name: str) -> tuple[CharacterRow, CharacterRow]:
        """The character before and after (``NameTaken``: another of the user's has that name)."""
        character = await self.repo.resolve(user_id, name)
        return character, await self.repo.rename(user_id, character.id, new_name)

    async def delete(self, user_id: int, name: str) -> tuple[CharacterRow, DeletedCharacter]:
        """The character, its images and face embeddings; its jobs run on without it."""
        character = await self.repo.resolve(user_id, name)
        async with self._lock(user_id):
            return character, await self.repo.delete(user_id, character.id)

    # -- adding ---------------------------------------------------------------------------------
    async def add_images(
        self,
        user_id: int,
        character: CharacterRow,
        uploads: Sequence[tuple[str, bytes]],
        *,
        force: bool = False,
    ) -> list[AddOutcome]:
        """Each upload alone: one bad image is refused with its reason, the others still go in."""
        outcomes = []
        async with self._lock(user_id):
            for filename, data in uploads:
                try:
                    outcomes.append(await self._add_one(user_id, character, filename, data, force))
                except (LikenessError, StorageError) as exc:
                    explained = explain(exc)
                    if explained is None:
                        raise
                    outcomes.append(AddOutcome(filename, None, False, (), explained.message, explained.code))
        return outcomes

    async def _add_one(
        self, user_id: int, character: CharacterRow, filename: str, data: bytes, force: bool
    ) -> AddOutcome:
        if self.decodes is None:
            checked = await asyncio.to_thread(check_image, data, "reference")
        else:
            checked = await self.decodes.run(check_image, data, "reference")
        refs = await self.repo.references(user_id, character.id)
        # Room first (quota, disk): the analysis is the expensive part.
        await self.repo.check_room(
            user_id, (checked.data, checked.ext), max_stored_bytes=self.max_stored_bytes
        )
        async with self.analysis(user_id):
            report = await self.worker.call(self._assess, checked.data, refs)  # what is stored
        reason = report.blocking_reason(force)
        if reason is not None:
            return AddOutcome(filename, None, False, (), reason, "reference_refused")
        assert report.face is not None
        pairs = self._vectors(refs)
        vectors = [v for _, v in pairs] + [report.face.embedding]
        primary = next((i for i, (r, _) in enumerate(pairs) if r.is_primary), None)
        if not refs:
            primary = len(vectors) - 1  # the first image becomes the primary
        ref = await self.repo.add_reference(
            user_id,
            character.id,
            (checked.data, checked.ext),
            embedding=embedding(report.face.embedding, self.backend),
            face_box=tuple(float(v) for v in report.face.box),  # type: ignore[arg-type]
            quality={"warnings": list(report.warnings), "metrics": report.metrics},
            character_embedding=embedding(set_embedding(vectors, primary), self.backend),
            based_on=[r.id for r in refs],
            max_images=self.rules.hard_max_refs,
            max_stored_bytes=self.max_stored_bytes,
        )
        return AddOutcome(filename, ref.number, ref.is_primary, report.warnings, None)

    def _assess(self, data: bytes, refs: Sequence[ReferenceRow]) -> QualityReport:
        image = load_image(data, what="reference")
        faces = self.worker.face_analyzer.analyze(image)
        others = [v for _, v in self._vectors(refs)]
        return assess_reference(image, faces, others, self.rules, set_size=len(refs))

    def _vectors(self, refs: Sequence[ReferenceRow]) -> list[tuple[ReferenceRow, np.ndarray]]:
        return [(r, v) for r in refs if (v := reference_vector(r, self.backend)) is not None]

    # -- changing the set -----------------------------------------------------------------------
    def combined_without(
        self, refs: Sequence[ReferenceRow], *, drop: int | None = None, primary: int | None = None
    ) -> Embedding | None:
        """The set's embedding after dropping reference id ``drop`` or making ``primary`` the primary."""
        kept = [r for r in refs if r.id != drop]
        pairs = self._vectors(kept)
        if not pairs:
            return None
        primary_id = primary if primary is not None else next((r.id for r in kept if r.is_primary), None)
        if primary_id == drop or primary_id is None:  # the next image takes the primary's place
            primary_id = kept[0].id if kept else None
        index = next((i for i, (r, _) in enumerate(pairs) if r.id == primary_id), None)
        return embedding(set_embedding([v for _, v in pairs], index), self.backend)

    async def promote(self, user_id: int, name: str, number: int) -> tuple[CharacterRow, ReferenceRow]:
        """Image ``number`` becomes the primary (number 1); the old primary takes its number."""
        character = await self.repo.resolve(user_id, name)
        async with self._lock(user_id):
            refs = await self.repo.references(user_id, character.id)
            target = next((r for r in refs if r.number == number), None)
            combined = self.combined_without(refs, primary=target.id if target else None)
            promoted = await self.repo.promote(
                user_id,
                character.id,
                number=number,
                character_embedding=combined,
                based_on=[r.id for r in refs],
            )
        return character, promoted

    async def prune(self, user_id: int, name: str, number: int) -> tuple[CharacterRow, ReferenceRow]:
        """Remove image ``number``; later ones move up, and the next becomes the primary if it was."""
        character = await self.repo.resolve(user_id, name)
        async with self._lock(user_id):
            refs = await self.repo.references(user_id, character.id)
            target = next((r for r in refs if r.number == number), None)
            combined = self.combined_without(refs, drop=target.id if target else None)
            removed = await self.repo.prune(
                user_id,
                character.id,
                number=number,
                character_embedding=combined,
                based_on=[r.id for r in refs],
            )
        return character, removed

    # -- reading --------------------------------------------------------------------------------
    def scores(self, refs: Sequence[ReferenceRow]) -> list[ReferenceScore]:
        """Each reference against the rest of the set; outliers are below the consistency threshold."""
        pairs = self._vectors(refs)
        values = (
            dict(zip((r.id for r, _ in pairs), consistency([v for _, v in pairs]), strict=True))
            if len(pairs) > 1
            else {}
        )
        return [
            ReferenceScore(r, values.get(r.id), values.get(r.id, 1.0) < self.rules.consistency_min)
            for r in refs
        ]
