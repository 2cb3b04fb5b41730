"""Pick and load the configured face backend (`LIKENESS_FACE_BACKEND`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from bot.engine.faces.types import FaceAnalyzer
from bot.errors import SettingsInvalid

logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("insightface", "dlib")


def load_face_analyzer(
    backend: str,
    model_dir: Path,
    det_size: int,
    providers: Sequence[str] = ("CPUExecutionProvider",),
) -> FaceAnalyzer:
    """Load the backend's models now, so a missing or broken pack fails at startup.

    `model_dir`, `det_size` and `providers` apply to insightface only; dlib's models come from the
    `face-recognition-models` package and it runs on the CPU. Backends are imported lazily so the
    unused one need not be installed.
    """
    name = backend.strip().lower()
    if name == "insightface":
        from bot.engine.faces.insightface_backend import InsightFaceAnalyzer

        return InsightFaceAnalyzer(model_dir, det_size=det_size, providers=providers)
    if name == "dlib":
        from bot.engine.faces.dlib_backend import DlibAnalyzer

        return DlibAnalyzer()
    raise SettingsInvalid(
        f"LIKENESS_FACE_BACKEND is “{backend}”, which is not a face backend; use one of {', '.join(BACKENDS)}"
    )
