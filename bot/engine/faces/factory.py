"""Pick and load the configured face backend (`LIKENESS_FACE_BACKEND`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bot.engine.faces.types import FaceAnalyzer
from bot.errors import SettingsInvalid

logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("insightface", "dlib")


@dataclass(frozen=True, slots=True)
class FaceConfig:
    """Which face backend to load and how (``LIKENESS_FACE_*``, ``LIKENESS_DEVICE``)."""

    backend: str
    model_dir: Path
    det_size: int = 640
    device: str = "auto"

    def load(self) -> FaceAnalyzer:
        return load_face_analyzer(self.backend, self.model_dir, self.det_size, self.device)


def load_face_analyzer(backend: str, model_dir: Path, det_size: int, device: str = "auto") -> FaceAnalyzer:
    """Load the backend's models now, so a missing or broken pack fails at startup.

    `model_dir`, `det_size` and `device` (`LIKENESS_DEVICE`) apply to insightface only: it runs on
    CUDA when the device allows it and onnxruntime has CUDA, else on the CPU (`providers_for`).
    dlib's models come from the `face-recognition-models` package and it runs on the CPU. Backends
    are imported lazily so the unused one need not be installed.
    """
    name = backend.strip().lower()
    if name == "insightface":
        from bot.engine.faces.insightface_backend import InsightFaceAnalyzer, providers_for

        return InsightFaceAnalyzer(model_dir, det_size=det_size, providers=providers_for(device))
    if name == "dlib":
        from bot.engine.faces.dlib_backend import DlibAnalyzer

        return DlibAnalyzer()
    raise SettingsInvalid(
        f"LIKENESS_FACE_BACKEND is “{backend}”, which is not a face backend; use one of {', '.join(BACKENDS)}"
    )
