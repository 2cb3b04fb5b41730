"""dlib backend: HOG face detector, 5-point shape predictor and ResNet face recognition model.

Why it exists: it installs from PyPI (`dlib-bin`, `face-recognition-models`) with no model download
and no licence restriction on the weights, so the face rules run on real faces anywhere, offline.
Its 128-d embeddings are not what IP-Adapter FaceID expects; use it for set curation and scoring.

Embeddings are L2-normalised like insightface's, so both backends share cosine similarity. dlib's
own metric is the Euclidean distance between raw vectors (same person < 0.6); raw vectors have norms
of about 1.3–1.6, so that rule does not translate exactly, and the thresholds in `quality` were
measured on normalised vectors instead (see `QualityRules.for_backend`).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bot.engine.faces.types import Face, sort_largest_first
from bot.errors import ModelUnavailable

logger = logging.getLogger(__name__)

BACKEND = "dlib"
EMBED_DIM = 128
SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
_INSTALL = "pip install dlib-bin face-recognition-models"

# Mouth corners are not among dlib's 5 points; they are placed from the eye line and the nose in a
# frame where x runs along the eye line and y is perpendicular (down the face), both in units of the
# eye distance. Measured with dlib's 68-point model on the six faces of insightface's t1.jpg: mouth
# corners lie 0.0–0.65 (mean 0.28) below dlib's nose point and ±0.42–0.55 (mean ±0.49) from its centre.
MOUTH_BELOW_NOSE = 0.3
MOUTH_HALF_WIDTH = 0.45


def models_folder() -> Path:
    """The `face_recognition_models/models` folder, found without importing the package.

    Its `__init__` imports `pkg_resources`, which modern setuptools no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelUnavailable(f"the dlib face models are not installed; run {_INSTALL}")
    folder = Path(locations[0]) / "models"
    for name in (SHAPE_PREDICTOR_FILE, RECOGNITION_FILE):
        if not (folder / name).is_file():
            raise ModelUnavailable(
                f"the dlib face model {name} is missing from {folder}; reinstall with {_INSTALL}"
            )
    return folder


def landmarks_from_dlib(points: np.ndarray) -> np.ndarray:
    """Map dlib's 5 points to the insightface layout (viewer's left eye, right eye, nose, mouth L/R).

    dlib's order is: image-right eye outer and inner corner, image-left eye outer and inner corner,
    bottom of the nose. Eye centres are the means of their corners; the nose is dlib's point as is
    (it sits a little lower than insightface's nose tip, which does not matter for yaw); the mouth
    corners are estimates (`MOUTH_BELOW_NOSE`, `MOUTH_HALF_WIDTH`), good enough to draw or to align
    a crop roughly, not to measure the mouth.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(5, 2)
    left_eye = pts[2:4].mean(axis=0)
    right_eye = pts[0:2].mean(axis=0)
    nose = pts[4]
    across = right_eye - left_eye
    eye_distance = float(np.linalg.norm(across))
    if eye_distance == 0.0:
        across, eye_distance = np.array([1.0, 0.0]), 1.0
    unit_x = across / eye_distance
    unit_y = np.array([-unit_x[1], unit_x[0]])  # eye line rotated 90°: points down an upright face
    mouth = nose + MOUTH_BELOW_NOSE * eye_distance * unit_y
    half = MOUTH_HALF_WIDTH * eye_distance * unit_x
    return np.stack([left_eye, right_eye, nose, mouth - half, mouth + half]).astype(np.float32)


class DlibAnalyzer:
    """Detect faces with dlib's HOG detector and embed them with its ResNet model (128-d).

    Large photos are scaled down (longer side `detect_max_side`) for detection only, which is the slow
    part; landmarks and embeddings are computed on the full-resolution image. With `upsample=1` the
    detector finds faces down to about 40 px in the scaled image, well below what the quality rules
    accept. A lock serialises calls because dlib's objects are not documented as thread-safe.
    """

    backend = BACKEND
    dim = EMBED_DIM

    def __init__(self, upsample: int = 1, detect_max_side: int = 1024) -> None:
        folder = models_folder()
        try:
            import dlib
        except ImportError as exc:
            raise ModelUnavailable(f"the dlib package is not installed; run {_INSTALL}") from exc
        self.upsample = int(upsample)
        self.detect_max_side = int(detect_max_side)
        self._lock = threading.Lock()
        self._dlib: Any = dlib
        try:
            self._detector = dlib.get_frontal_face_detector()
            self._shape = dlib.shape_predictor(str(folder / SHAPE_PREDICTOR_FILE))
            self._recognizer = dlib.face_recognition_model_v1(str(folder / RECOGNITION_FILE))
        except RuntimeError as exc:  # dlib raises RuntimeError on unreadable model files
            raise ModelUnavailable(
                f"the dlib face models in {folder} cannot be read; reinstall with {_INSTALL}"
            ) from exc
        logger.info("dlib face models loaded from %s", folder)

    def analyze(self, image: Image.Image) -> list[Face]:
        """All faces in `image`, largest first, each with a normalised 128-d embedding."""
        image = image.convert("RGB")
        rgb = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
        small, scale = self._detection_image(image, rgb)
        with self._lock:
            rects, scores, _ = self._detector.run(small, self.upsample, 0.0)
            faces = []
            for rect, score in zip(rects, scores, strict=True):
                full = self._dlib.rectangle(
                    round(rect.left() * scale),
                    round(rect.top() * scale),
                    round(rect.right() * scale),
                    round(rect.bottom() * scale),
                )
                shape = self._shape(rgb, full)
                points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
                descriptor = np.asarray(self._recognizer.compute_face_descriptor(rgb, shape), np.float32)
                faces.append(
                    Face(
                        # dlib's right/bottom are inclusive pixel indices; +1 gives exclusive edges.
                        box=(float(full.left()), float(full.top()), full.right() + 1.0, full.bottom() + 1.0),
                        landmarks=landmarks_from_dlib(points),
                        score=float(score),
                        embedding=descriptor,
                    )
                )
        logger.debug("dlib found %d face(s) in a %dx%d image", len(faces), *image.size)
        return sort_largest_first(faces)

    def _detection_image(self, image: Image.Image, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The image to detect on (scaled so its longer side ≤ `detect_max_side`) and the factor back."""
        longest = max(image.size)
        if longest <= self.detect_max_side:
            return rgb, 1.0
        factor = self.detect_max_side / longest
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        small = image.resize(size, Image.Resampling.BILINEAR)
        return np.ascontiguousarray(np.asarray(small, dtype=np.uint8)), longest / self.detect_max_side
