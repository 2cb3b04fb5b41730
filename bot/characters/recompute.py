"""Re-embed every stored reference with the current face backend (after a backend change).

Embeddings of different backends cannot be compared, so after ``LIKENESS_FACE_BACKEND`` (or its
models) changes, every character's images are analysed again from the stored files. Each character
is updated in one transaction; a character edited meanwhile is skipped by ``based_on`` and left for
a rerun.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.characters.service import embedding
from bot.engine.faces.similarity import set_embedding
from bot.engine.faces.types import Face
from bot.engine.identity import embedding_vector
from bot.engine.images import load_image
from bot.running.worker import GpuWorker
from storage import CharacterRepository, Embedding, MediaStore


async def recompute_all(
    repo: CharacterRepository,
    media: MediaStore,
    worker: GpuWorker,
    backend: str,
    progress: Callable[[str], object] | None = None,
) -> tuple[int, int, int]:
    """Returns (characters, images, images without a face now); ``progress`` gets each character's name."""
    analyzer = await worker.load_faces()
    dim = int(getattr(analyzer, "dim", 512))

    def faces(data: bytes) -> list[Face]:
        return analyzer.analyze(load_image(data, what="reference"))

    characters = images = faceless = 0
    async for character, refs in repo.needing_embeddings(backend, dim):
        updates: dict[int, Embedding | None] = {}
        for ref in refs:
            data = await asyncio.to_thread(media.read, ref.media, ref.ext)
            found = await worker.call(faces, data)
            if found:
                updates[ref.id] = embedding(found[0].embedding, backend)
            else:
                faceless += 1
                updates[ref.id] = Embedding(None, backend, dim)
            images += 1
        vectors = [
            (ref, embedding_vector(e.vector))
            for ref in refs
            if (e := updates.get(ref.id)) is not None and e.vector is not None
        ]
        combined = None
        if vectors:
            primary = next((i for i, (r, _) in enumerate(vectors) if r.is_primary), None)
            combined = embedding(set_embedding([v for _, v in vectors], primary), backend)
        await repo.set_embeddings(character.user_id, character.id, updates, combined)
        characters += 1
        if progress is not None:
            progress(character.name)
    return characters, images, faceless
