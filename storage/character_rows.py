"""Rows for character reference sets (see ``storage.characters``).

Numbering, defined here once: a reference image's **number** is its 1-based place in the list
users see, which is also its stored ``position``. The primary image is always number 1, the other
references follow as 2..n without gaps; removing an image closes the gap, and promoting image k
swaps it with the old primary (which becomes number k). Everything else keeps its number.

Embeddings are opaque to storage: float32 little-endian vectors, ``dim`` values long, named by the
face ``backend`` that produced them (storage never imports numpy).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

FLOAT32_BYTES = 4
MAX_BACKEND_CHARS = 64


class Embedding(NamedTuple):
    """One embedding as stored. ``vector is None`` means the backend looked and found no face;
    a plain ``(vector, backend, dim)`` tuple is accepted wherever an Embedding is."""

    vector: bytes | None
    backend: str
    dim: int

    @classmethod
    def checked(cls, value: tuple[object, object, object] | None) -> Embedding | None:
        """Validate an Embedding or a ``(vector, backend, dim)`` tuple (raises ValueError: a programming
        error, not a user's) and normalise. Any tuple is checked: untyped callers reach here too."""
        if value is None:
            return None
        vector, backend, dim = value
        if not isinstance(backend, str) or not 1 <= len(backend) <= MAX_BACKEND_CHARS:
            raise ValueError(f"embedding backend must be a name of 1..{MAX_BACKEND_CHARS} characters")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"embedding dim must be a positive int, not {dim!r}")
        if vector is not None:
            if not isinstance(vector, bytes | bytearray | memoryview):
                raise ValueError("embedding vector must be bytes (float32 little-endian)")
            vector = bytes(vector)
            if len(vector) != dim * FLOAT32_BYTES:
                raise ValueError(f"embedding has {len(vector)} bytes; dim {dim} needs {dim * FLOAT32_BYTES}")
        return cls(vector, backend, dim)

    @classmethod
    def from_columns(cls, vector: bytes | None, backend: str | None, dim: int | None) -> Embedding | None:
        if backend is None or dim is None:
            return None
        return cls(None if vector is None else bytes(vector), backend, int(dim))

    def columns(self) -> tuple[bytes | None, str, int]:
        return self.vector, self.backend, self.dim


def embedding_columns(value: Embedding | None) -> tuple[bytes | None, str | None, int | None]:
    """(embedding, embedding_backend, embedding_dim) column values; all NULL for None."""
    return (None, None, None) if value is None else value.columns()


class RefRole(StrEnum):
    PRIMARY = "primary"
    REFERENCE = "reference"


FaceBox = tuple[float, float, float, float]


def face_box_json(box: FaceBox | None) -> str | None:
    """``[x0, y0, x1, y1]`` as JSON; validates shape and finiteness (ValueError)."""
    if box is None:
        return None
    values = [float(v) for v in box]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"face_box must be four finite numbers [x0, y0, x1, y1], not {box!r}")
    if values[0] > values[2] or values[1] > values[3]:
        raise ValueError(f"face_box must have x0 <= x1 and y0 <= y1, not {box!r}")
    return json.dumps(values)


def quality_json(quality: Mapping[str, Any] | None) -> str:
    """The quality report as JSON (must be JSON-serialisable, no NaN): ``{"warnings": [...], ...}``."""
    return json.dumps(dict(quality or {}), allow_nan=False, sort_keys=True)


@dataclass(frozen=True, slots=True)
class CharacterRow:
    """One character; ``image_count`` is the number of reference images (primary included)."""

    id: int
    user_id: int
    name: str
    created_at: float
    updated_at: float
    embedding: Embedding | None
    image_count: int

    @classmethod
    def from_row(cls, row: sqlite3.Row | Mapping[str, Any]) -> CharacterRow:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            name=row["name"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            embedding=Embedding.from_columns(
                row["embedding"], row["embedding_backend"], row["embedding_dim"]
            ),
            image_count=int(row["image_count"]),
        )


@dataclass(frozen=True, slots=True)
class ReferenceRow:
    """One reference image. ``ext`` comes from its media row, so ``MediaStore.path(media, ext)``
    works; ``number`` is what users see (module docstring)."""

    id: int
    character_id: int
    media: str
    ext: str
    role: RefRole
    position: int
    embedding: Embedding | None
    face_box: FaceBox | None
    quality: dict[str, Any] = field(hash=False)
    created_at: float

    @property
    def number(self) -> int:
        return self.position

    @property
    def is_primary(self) -> bool:
        return self.role is RefRole.PRIMARY

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(str(w) for w in self.quality.get("warnings", ()))

    @classmethod
    def from_row(cls, row: sqlite3.Row | Mapping[str, Any]) -> ReferenceRow:
        box = row["face_box"]
        return cls(
            id=row["id"],
            character_id=row["character_id"],
            media=row["media"],
            ext=row["ext"],
            role=RefRole(row["role"]),
            position=row["position"],
            embedding=Embedding.from_columns(
                row["embedding"], row["embedding_backend"], row["embedding_dim"]
            ),
            face_box=None if box is None else tuple(json.loads(box)),
            quality=json.loads(row["quality"] or "{}"),
            created_at=row["created_at"],
        )


@dataclass(frozen=True, slots=True)
class DeletedCharacter:
    """What ``CharacterRepository.delete`` removed: the character as it was, its image rows and
    the media files no other row used."""

    character: CharacterRow
    images: int
    files: int
