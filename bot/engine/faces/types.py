"""The backend-neutral face record and the analyzer interface.

Both backends (insightface, dlib) return the same `Face`, so quality rules, set embeddings and
storage never need to know which model produced a face. Only embeddings from the same backend are
comparable; callers store `FaceAnalyzer.backend` next to each embedding for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")
"""Order of `Face.landmarks` rows, insightface's 5-point layout.

"Left"/"right" are from the viewer's perspective: row 0 is the eye nearer the image's left edge
(the subject's own right eye) in a frontal, upright face.
"""


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face, in the pixel coordinates of the analysed image.

    `box` is (x0, y0, x1, y1); it may reach past the image border (detectors extrapolate).
    `landmarks` is a (5, 2) float32 array in `LANDMARK_NAMES` order, or None when the detector gives
    none. `score` is the detector's confidence; its scale is backend-specific (insightface: 0–1,
    dlib: HOG margin, usually 0–3), so compare scores only within one backend. `embedding` is an
    L2-normalised float32 vector (normalised on construction), so the dot product of two embeddings
    is their cosine similarity.
    Arrays are made read-only so the frozen record really cannot change.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray | None
    score: float
    embedding: np.ndarray

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = (float(v) for v in self.box)
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"empty face box {self.box!r}")
        object.__setattr__(self, "box", (x0, y0, x1, y1))
        object.__setattr__(self, "score", float(self.score))
        embedding = np.array(self.embedding, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(embedding)) if embedding.size else 0.0
        if not (np.isfinite(norm) and norm > 0.0):
            raise ValueError("a face embedding must be a non-empty, finite, non-zero vector")
        # Normalised here once, so every consumer may use a plain dot product as the cosine.
        embedding = (embedding / norm).astype(np.float32)
        embedding.setflags(write=False)
        object.__setattr__(self, "embedding", embedding)
        if self.landmarks is not None:
            landmarks = np.array(self.landmarks, dtype=np.float32)
            if landmarks.shape != (5, 2):
                raise ValueError(f"face landmarks must have shape (5, 2), got {landmarks.shape}")
            landmarks.setflags(write=False)
            object.__setattr__(self, "landmarks", landmarks)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return self.width * self.height


@runtime_checkable
class FaceAnalyzer(Protocol):
    """Detects faces and embeds each one. Synchronous: call it from the worker thread, not the loop.

    `backend` names the model family ("insightface", "dlib"): embeddings of different backends (or
    dimensions) must never be compared. `analyze` returns faces sorted largest box first.
    """

    backend: str
    dim: int

    def analyze(self, image: Image.Image) -> list[Face]: ...


def sort_largest_first(faces: list[Face]) -> list[Face]:
    """Largest box first: the main subject of a reference photo is nearly always the biggest face."""
    return sorted(faces, key=lambda face: face.area, reverse=True)


def normalised(vector: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy; a zero vector is returned unchanged (as zeros) instead of NaN."""
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(array))
    if norm == 0.0 or not np.isfinite(norm):
        return np.zeros_like(array)
    return (array / norm).astype(np.float32)
