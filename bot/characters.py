"""Character reference sets: analyse an upload, check its quality, store it with its embedding.

Face analysis runs on the GPU worker thread (insightface may use CUDA; never on the event loop).
The set's embedding (primary weighted double, see ``set_embedding``) is recomputed on every change
and stored in the same transaction as the change, guarded by ``based_on`` against a concurrent edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.attachments import check_image
from bot.engine.faces.factory import load_face_analyzer
from bot.engine.faces.quality import QualityReport, QualityRules, assess_reference
from bot.engine.faces.similarity import consistency, set_embedding
from bot.engine.faces.types import FaceAnalyzer
from bot.engine.images import load_image
from bot.errors import LikenessError
from bot.inflight import WorkInFlight
from bot.jobs import MAX_IDENTITY_REFERENCES
from bot.settings import Settings
from bot.worker import GpuWorker
from storage import (
    CharacterNotFound,
    CharacterRepository,
    CharacterRow,
    Embedding,
    MediaStore,
    ReferenceRow,
    StorageError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AddOutcome:
    """One uploaded image: added as ``number`` (with warnings), or refused with ``error``."""

    filename: str
    number: int | None
    primary: bool
    warnings: tuple[str, ...]
    error: str | None


@dataclass(frozen=True, slots=True)
class ReferenceScore:
    ref: ReferenceRow
    score: float | None  # similarity to the rest of the set; None without a face embedding
    outlier: bool


def vector(ref: ReferenceRow, backend: str) -> np.ndarray | None:
    emb = ref.embedding
    if emb is None or emb.vector is None or emb.backend != backend:
        return None
    return np.frombuffer(emb.vector, dtype="<f4").astype(np.float32)


class CharacterService:
    def __init__(
        self,
        repo: CharacterRepository,
        media: MediaStore,
        worker: GpuWorker,
        settings: Settings,
        *,
        in_flight: WorkInFlight | None = None,
    ) -> None:
        """``in_flight`` counts each face analysis against its user's work limit (None: unbounded,
        for the operator's command line)."""
        self.repo = repo
        self.in_flight = in_flight
        self.repo_media = media
        self.worker = worker
        self.settings = settings
        self.backend = settings.face_backend
        self.rules = QualityRules.for_backend(self.backend)
        self._analyzer: FaceAnalyzer | None = None
        self._locks: dict[int, asyncio.Lock] = {}

    async def load(self) -> None:
        """Load the face models on the worker thread; a missing pack stops start-up with where to put it."""
        if self._analyzer is None:
            self._analyzer = await self.worker.call(  # type: ignore[assignment]
                load_face_analyzer,
                self.backend,
                self.settings.resolved_face_model_dir,
                self.settings.face_det_size,
                self.settings.device,  # insightface on CUDA when the bot uses the GPU
            )

    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            raise RuntimeError("face analysis is not loaded")
        return self._analyzer

    def _lock(self, user_id: int) -> asyncio.Lock:
        return self._locks.setdefault(user_id, asyncio.Lock())

    def _analysis(self, user_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """A slot for one face analysis on the worker (``QueueLimit`` when the user has none left)."""
        if self.in_flight is None:
            return contextlib.nullcontext()
        return self.in_flight.analysis(user_id)

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
                    outcomes.append(AddOutcome(filename, None, False, (), str(exc)))
        return outcomes

    async def _add_one(
        self, user_id: int, character: CharacterRow, filename: str, data: bytes, force: bool
    ) -> AddOutcome:
        checked = await asyncio.to_thread(check_image, data, "reference")
        refs = await self.repo.references(user_id, character.id)
        # Room first (quota, disk): the analysis is the expensive part.
        await self.repo.check_room(
            user_id, (checked.data, checked.ext), max_stored_bytes=self.settings.max_stored_bytes
        )
        async with self._analysis(user_id):
            report = await self.worker.call(self._assess, checked.data, refs)  # what is stored
        assert isinstance(report, QualityReport)
        reason = report.blocking_reason(force)
        if reason is not None:
            return AddOutcome(filename, None, False, (), reason)
        assert report.face is not None
        embeddings = [(r, v) for r in refs if (v := vector(r, self.backend)) is not None]
        vectors = [v for _, v in embeddings] + [report.face.embedding]
        primary = next((i for i, (r, _) in enumerate(embeddings) if r.is_primary), None)
        if not refs:
            primary = len(vectors) - 1  # the first image becomes the primary
        combined = set_embedding(vectors, primary)
        dim = int(report.face.embedding.shape[0])
        ref = await self.repo.add_reference(
            user_id,
            character.id,
            (checked.data, checked.ext),
            embedding=Embedding(report.face.embedding.astype("<f4").tobytes(), self.backend, dim),
            face_box=tuple(float(v) for v in report.face.box),  # type: ignore[arg-type]
            quality={"warnings": list(report.warnings), "metrics": report.metrics},
            character_embedding=Embedding(combined.astype("<f4").tobytes(), self.backend, dim),
            based_on=[r.id for r in refs],
            max_images=self.rules.hard_max_refs,
            max_stored_bytes=self.settings.max_stored_bytes,
        )
        return AddOutcome(filename, ref.number, ref.is_primary, report.warnings, None)

    def _assess(self, data: bytes, refs: Sequence[ReferenceRow]) -> QualityReport:
        image = load_image(data, what="reference")
        faces = self.analyzer.analyze(image)
        others = [v for r in refs if (v := vector(r, self.backend)) is not None]
        return assess_reference(image, faces, others, self.rules, set_size=len(refs))

    # -- changing the set -----------------------------------------------------------------------
    def combined_without(
        self, refs: Sequence[ReferenceRow], *, drop: int | None = None, primary: int | None = None
    ) -> Embedding | None:
        """The set's embedding after dropping reference id ``drop`` or making ``primary`` the primary."""
        kept = [r for r in refs if r.id != drop]
        pairs = [(r, v) for r in kept if (v := vector(r, self.backend)) is not None]
        if not pairs:
            return None
        primary_id = primary if primary is not None else next((r.id for r in kept if r.is_primary), None)
        if primary_id == drop or primary_id is None:  # the next image takes the primary's place
            primary_id = kept[0].id if kept else None
        index = next((i for i, (r, _) in enumerate(pairs) if r.id == primary_id), None)
        combined = set_embedding([v for _, v in pairs], index)
        return Embedding(combined.astype("<f4").tobytes(), self.backend, int(combined.shape[0]))

    async def promote(self, user_id: int, character: CharacterRow, number: int) -> ReferenceRow:
        async with self._lock(user_id):
            refs = await self.repo.references(user_id, character.id)
            target = next((r for r in refs if r.number == number), None)
            combined = self.combined_without(refs, primary=target.id if target else None)
            return await self.repo.promote(
                user_id,
                character.id,
                number=number,
                character_embedding=combined,
                based_on=[r.id for r in refs],
            )

    async def prune(self, user_id: int, character: CharacterRow, number: int) -> ReferenceRow:
        async with self._lock(user_id):
            refs = await self.repo.references(user_id, character.id)
            target = next((r for r in refs if r.number == number), None)
            combined = self.combined_without(refs, drop=target.id if target else None)
            return await self.repo.prune(
                user_id,
                character.id,
                number=number,
                character_embedding=combined,
                based_on=[r.id for r in refs],
            )

    # -- reading --------------------------------------------------------------------------------
    def scores(self, refs: Sequence[ReferenceRow]) -> list[ReferenceScore]:
        """Each reference against the rest of the set; outliers are below the consistency threshold."""
        pairs = [(r, v) for r in refs if (v := vector(r, self.backend)) is not None]
        values = (
            dict(zip((r.id for r, _ in pairs), consistency([v for _, v in pairs]), strict=True))
            if len(pairs) > 1
            else {}
        )
        return [
            ReferenceScore(r, values.get(r.id), values.get(r.id, 1.0) < self.rules.consistency_min)
            for r in refs
        ]

    async def face_mask(self, user_id: int, image: bytes, grow: float = 0.25) -> bytes:
        """A mask over the largest face (box grown by ``grow`` per side) for the Fix face inpaint;
        the analysis counts as work in flight for ``user_id``."""
        import io

        from PIL import Image

        async with self._analysis(user_id):
            faces = await self.worker.call(self._faces, image)
        assert isinstance(faces, list)
        if not faces:
            raise LikenessError("no face found in this output to fix: use Vary or Reroll instead")
        with Image.open(io.BytesIO(image)) as picture:
            size = picture.size
        x0, y0, x1, y1 = faces[0].box
        dx, dy = (x1 - x0) * grow, (y1 - y0) * grow
        box = (
            max(0, round(x0 - dx)),
            max(0, round(y0 - dy)),
            min(size[0], round(x1 + dx)),
            min(size[1], round(y1 + dy)),
        )
        mask = Image.new("L", size, 0)
        mask.paste(255, box)
        buffer = io.BytesIO()
        mask.save(buffer, format="PNG")
        return buffer.getvalue()

    # -- maintenance ----------------------------------------------------------------------------
    async def recompute_all(self, progress: Callable[[str], None] | None = None) -> tuple[int, int, int]:
        """Re-embed every stored reference with the current backend (after a backend change).

        Returns (characters, images, images without a face now). Each character is updated in one
        transaction; a character edited meanwhile is skipped by ``based_on`` and left for a rerun.
        """
        characters = images = faceless = 0
        async for character, refs in self.repo.needing_embeddings(self.backend, self._dim()):
            updates: dict[int, Embedding | None] = {}
            for ref in refs:
                data = await asyncio.to_thread(self.repo_media.read, ref.media, ref.ext)
                faces = await self.worker.call(self._faces, data)
                assert isinstance(faces, list)
                if faces:
                    vec = faces[0].embedding.astype("<f4")
                    dim = int(vec.shape[0])
                    updates[ref.id] = Embedding(vec.tobytes(), self.backend, dim)
                else:
                    faceless += 1
                    updates[ref.id] = Embedding(None, self.backend, self._dim())
                images += 1
            vectors = [
                (ref, np.frombuffer(e.vector, "<f4"))
                for ref in refs
                if (e := updates.get(ref.id)) is not None and e.vector is not None
            ]
            combined = None
            if vectors:
                primary = next((i for i, (r, _) in enumerate(vectors) if r.is_primary), None)
                mean = set_embedding([v for _, v in vectors], primary).astype("<f4")
                combined = Embedding(mean.tobytes(), self.backend, int(mean.shape[0]))
            await self.repo.set_embeddings(character.user_id, character.id, updates, combined)
            characters += 1
            if progress is not None:
                progress(character.name)
        return characters, images, faceless

    def _faces(self, data: bytes) -> list[Any]:
        return self.analyzer.analyze(load_image(data, what="reference"))

    def _dim(self) -> int:
        return int(getattr(self.analyzer, "dim", 512))


FACEID_DIM = 512  # IP-Adapter FaceID takes insightface's 512-d embeddings


class CharacterGone(LikenessError):
    """A queued job's character was deleted before the job ran."""

    def __init__(self) -> None:
        super().__init__("the character for this job was deleted before it ran; nothing was generated")


class CharacterEmpty(LikenessError):
    """Face lock on a character with no reference image: nothing to lock onto, so nothing is generated.

    The text names no character: raised when a job runs, it becomes the job's public failure line,
    and character names are private.
    """

    def __init__(self) -> None:
        super().__init__(
            "the character has no reference images yet, so there is no face to lock onto: "
            "add a clear photo of the face with /character add"
        )


class IdentitySource:
    """A face-locked job's identity, read from its owner's character when the job runs."""

    def __init__(self, repo: CharacterRepository, media: MediaStore) -> None:
        self.repo = repo
        self.media = media

    async def identity_for(self, user_id: int, character_id: int) -> tuple[tuple[bytes, ...], Path | None]:
        """(FaceID embeddings, the primary image's path); ``CharacterGone`` when it no longer exists,
        ``CharacterEmpty`` when it has no reference (a silent unlocked run would look like a bad lock)."""
        try:
            refs = await self.repo.references(user_id, character_id)
        except CharacterNotFound:
            raise CharacterGone() from None
        if not refs:
            raise CharacterEmpty()
        embeddings = tuple(
            ref.embedding.vector
            for ref in refs
            if ref.embedding is not None
            and ref.embedding.vector is not None
            and ref.embedding.dim == FACEID_DIM
        )[:MAX_IDENTITY_REFERENCES]
        primary = next((ref for ref in refs if ref.is_primary), None)
        image = self.media.path(primary.media, primary.ext) if primary is not None else None
        return embeddings, image
