"""Cosine similarity, a character set's identity embedding, and per-reference consistency.

All inputs are embeddings of one backend; they are normalised again here, so raw vectors work too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.engine.faces.types import normalised

PRIMARY_WEIGHT = 2.0
"""How much the primary reference counts in `set_embedding` relative to each other reference."""


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity in [-1, 1]; 0.0 when either vector is zero (nothing to compare)."""
    first, second = np.asarray(a, dtype=np.float32).reshape(-1), np.asarray(b, dtype=np.float32).reshape(-1)
    if first.shape != second.shape:
        raise ValueError(
            f"cannot compare a {first.size}-d with a {second.size}-d embedding (different face backends?)"
        )
    return float(np.clip(np.dot(normalised(first), normalised(second)), -1.0, 1.0))


def _stack(embeddings: Sequence[np.ndarray]) -> np.ndarray:
    rows = [normalised(e) for e in embeddings]
    if not rows:
        raise ValueError("at least one embedding is needed")
    if len({row.shape for row in rows}) != 1:
        raise ValueError("embeddings of different sizes cannot be combined (different face backends?)")
    return np.stack(rows)


def set_embedding(
    embeddings: Sequence[np.ndarray], primary_index: int | None, primary_weight: float = PRIMARY_WEIGHT
) -> np.ndarray:
    """The set's identity: the normalised, weighted mean of its normalised reference embeddings.

    Averaging cancels what single photos get wrong (pose, light, expression). The primary counts
    `primary_weight` times (double by default) because the user chose it as the best likeness: a
    handful of mediocre extra references should refine the identity, not outvote that choice. With
    `primary_index=None` every reference weighs the same.
    """
    rows = _stack(embeddings)
    weights = np.ones(len(rows), dtype=np.float32)
    if primary_index is not None:
        if not 0 <= primary_index < len(rows):
            raise IndexError(f"primary index {primary_index} is outside a set of {len(rows)}")
        if primary_weight <= 0:
            raise ValueError(f"primary_weight must be positive, got {primary_weight}")
        weights[primary_index] = primary_weight
    mean = (weights[:, None] * rows).sum(axis=0) / weights.sum()
    return normalised(mean)


def consistency(embeddings: Sequence[np.ndarray]) -> list[float]:
    """Each embedding's cosine to the normalised mean of all the others ("score against the rest").

    Leaving the embedding itself out of the mean matters in small sets: with 3 references, including
    it would pull the mean a third of the way towards it and hide an outlier. The lowest values are
    the candidates to prune. A set of one has nothing to disagree with, so it scores 1.0.
    """
    if not embeddings:
        return []
    rows = _stack(embeddings)
    if len(rows) == 1:
        return [1.0]
    total = rows.sum(axis=0)
    return [cosine(row, total - row) for row in rows]
