"""A character's stored face, as what a face-locked job needs: its ``Identity``.

Read when a job is checked and again when it runs, so an edit of the set in between (a new primary,
a pruned outlier) is what the job uses.
"""

from __future__ import annotations

import numpy as np

from bot.engine.identity import FACEID_DIM, embedding_vector
from bot.errors import CharacterEmpty, CharacterGone
from bot.jobs import Identity
from bot.params import MAX_IDENTITY_REFERENCES
from storage import CharacterNotFound, CharacterRepository, MediaStore, ReferenceRow


def reference_vector(ref: ReferenceRow, backend: str) -> np.ndarray | None:
    """The reference's face embedding when ``backend`` made it (others cannot be compared)."""
    emb = ref.embedding
    if emb is None or emb.vector is None or emb.backend != backend:
        return None
    return embedding_vector(emb.vector)


class IdentitySource:
    def __init__(self, repo: CharacterRepository, media: MediaStore) -> None:
        self.repo = repo
        self.media = media

    async def identity_for(self, user_id: int, character_id: int) -> Identity:
        """The character's FaceID embeddings and primary image; ``CharacterGone`` when it no longer
        exists, ``CharacterEmpty`` when it has no reference (a silent unlocked run would look like a
        bad lock)."""
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
        return Identity(embeddings, image)
