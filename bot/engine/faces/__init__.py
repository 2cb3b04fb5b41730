"""Face analysis for character reference sets: detection, landmarks, identity embeddings, quality.

Two interchangeable backends produce the same `Face` records: insightface (ONNX packs such as
buffalo_l, 512-d ArcFace embeddings; what IP-Adapter FaceID consumes) and dlib (HOG detector and
ResNet model from PyPI, 128-d; installs offline). Everything here is synchronous and runs on the
GPU worker thread; nothing imports discord or the database.
"""

from __future__ import annotations

from bot.engine.faces.factory import BACKENDS, FaceConfig, load_face_analyzer
from bot.engine.faces.quality import QualityReport, QualityRules, assess_reference
from bot.engine.faces.similarity import consistency, cosine, set_embedding
from bot.engine.faces.types import Face, FaceAnalyzer

__all__ = [
    "BACKENDS",
    "Face",
    "FaceAnalyzer",
    "FaceConfig",
    "QualityReport",
    "QualityRules",
    "assess_reference",
    "consistency",
    "cosine",
    "load_face_analyzer",
    "set_embedding",
]
