"""Face lock helpers: the embedding codec, the FaceID input, scoring outputs.

An embedding travels and is stored as float32 little-endian bytes (``embedding_bytes`` and
``embedding_vector`` are that format, the one codec everything uses); requests carry one
normalised vector per reference, and the engine never sees which character they belong to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from bot.choices import IdentityMode
from bot.engine.faces.similarity import cosine, set_embedding
from bot.engine.faces.types import FaceAnalyzer, normalised
from bot.errors import InvalidRequest

FACEID_DIM = 512  # IP-Adapter FaceID consumes insightface (ArcFace) embeddings


def embedding_bytes(vector: np.ndarray) -> bytes:
    """The stored form of an embedding, as it is (float32 little-endian)."""
    return np.asarray(vector, dtype="<f4").reshape(-1).tobytes()


def embedding_vector(blob: bytes | bytearray) -> np.ndarray:
    """An embedding back from its stored bytes (a float32 copy)."""
    return np.frombuffer(bytes(blob), dtype="<f4").astype(np.float32)


def decode_identity(identity: Sequence[object]) -> np.ndarray:
    """``(N, dim)`` normalised float32 rows from little-endian float32 bytes; InvalidRequest if malformed
    (each item is checked: a job's identity may come from outside typed code, e.g. over Ray)."""
    if not identity:
        raise InvalidRequest("identity is empty: the character has no reference embeddings")
    rows = []
    for k, blob in enumerate(identity):
        if not isinstance(blob, bytes | bytearray):
            raise InvalidRequest(
                f"identity embedding {k + 1} is not a float32 vector (got {type(blob).__name__})"
            )
        if not blob or len(blob) % 4:
            raise InvalidRequest(
                f"identity embedding {k + 1} is not a float32 vector (got {len(blob)} bytes)"
            )
        rows.append(embedding_vector(blob))
    if len({row.size for row in rows}) != 1:
        raise InvalidRequest("identity embeddings differ in size: they come from different face backends")
    stacked = np.stack(rows)
    if not np.isfinite(stacked).all() or not np.linalg.norm(stacked, axis=1).all():
        raise InvalidRequest("an identity embedding is zero or not finite: recompute the character's faces")
    return np.stack([normalised(row) for row in stacked])


def encode_identity(embedding: np.ndarray) -> bytes:
    """The wire form of one embedding (normalised float32 little-endian): what the bot puts in requests."""
    return embedding_bytes(normalised(embedding))


def character_vector(rows: np.ndarray) -> np.ndarray:
    """The set embedding used for scoring (equal weights: the request does not say which is primary)."""
    return set_embedding(list(rows), None)


def faceid_input(rows: np.ndarray, mode: str) -> np.ndarray:
    """FaceID's tokens: every reference (``all``, shape (N, dim)) or their normalised mean (1, dim)."""
    if mode == IdentityMode.MEAN:
        return character_vector(rows)[None, :]
    return rows


def score_candidates(
    analyzer: FaceAnalyzer, images: Sequence[Image.Image], character_vec: np.ndarray
) -> list[float | None]:
    """Each image's largest face's cosine to the character; None where no face is found."""
    scores: list[float | None] = []
    for image in images:
        faces = analyzer.analyze(image)
        scores.append(cosine(faces[0].embedding, character_vec) if faces else None)
    return scores


def rank_key(score: float | None) -> float:
    """Sort key for best first, unscored/faceless last."""
    return -2.0 if score is None else score
