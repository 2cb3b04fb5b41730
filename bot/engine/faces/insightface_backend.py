"""insightface backend: an ONNX face pack (SCRFD detector + ArcFace recognizer) through `FaceAnalysis`.

This is the backend whose 512-d embeddings IP-Adapter FaceID was trained on. The pack is read from a
local folder only: `FaceAnalysis` downloads from GitHub whenever its `name` is not an existing
directory, so the folder is checked here first and an absolute path is passed, which means a
missing pack is reported to the operator instead of silently fetched (or hanging offline).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from bot.engine.faces.types import Face, sort_largest_first
from bot.errors import ModelUnavailable

logger = logging.getLogger(__name__)

BACKEND = "insightface"
EMBED_DIM = 512
SETTING = "LIKENESS_FACE_MODEL_DIR"
MODEL_ZOO_URL = "https://github.com/deepinsight/insightface/tree/master/python-package"
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
_MANIFEST = "manifest.json"  # insightface's v2 model packages describe themselves with this file


def _where_to_get(model_dir: Path) -> str:
    return (
        f"unzip buffalo_l.zip from the insightface model zoo ({MODEL_ZOO_URL}; non-commercial research "
        f"use only) so its *.onnx files sit directly in {model_dir}, point {SETTING} at such a folder, "
        "or set LIKENESS_FACE_BACKEND=dlib"
    )


def check_model_dir(model_dir: Path) -> Path:
    """Resolve `model_dir` and make sure it holds a face pack, or raise `ModelUnavailable` saying where."""
    folder = Path(model_dir).expanduser().resolve()
    if not folder.is_dir():
        raise ModelUnavailable(
            f"the face model folder {folder} ({SETTING}) does not exist; {_where_to_get(folder)}"
        )
    if any(folder.glob("*.onnx")) or (folder / _MANIFEST).is_file():
        return folder
    nested = sorted(p.parent for p in folder.glob("*/*.onnx"))
    if nested:  # the classic mistake: the zip unpacked into buffalo_l/buffalo_l/
        raise ModelUnavailable(
            f"the face model files are in {nested[0]}, one folder below {folder}; "
            f"set {SETTING} to {nested[0]} or move the *.onnx files up"
        )
    raise ModelUnavailable(
        f"the face model folder {folder} ({SETTING}) has no *.onnx files; {_where_to_get(folder)}"
    )


def providers_for(device: str) -> tuple[str, ...]:
    """onnxruntime providers for `LIKENESS_DEVICE`: CUDA first when the bot may use the GPU (auto or
    cuda) and this onnxruntime build has it, otherwise the CPU alone (cpu, mps, or a CPU-only build)."""
    try:
        import onnxruntime
    except ImportError:  # the analyzer's own import then says what to install
        return (CPU,)
    if device in ("auto", "cuda") and CUDA in onnxruntime.get_available_providers():
        return (CUDA, CPU)
    if device == "cuda":
        logger.warning(
            "LIKENESS_DEVICE is cuda but onnxruntime has no %s (pip install onnxruntime-gpu); "
            "face analysis runs on the CPU",
            CUDA,
        )
    return (CPU,)


def ctx_id_for(providers: Sequence[str]) -> int:
    """insightface's device switch: 0 selects the first GPU when CUDA is offered, -1 means CPU."""
    return 0 if CUDA in providers else -1


def to_bgr(image: Image.Image) -> np.ndarray:
    """insightface follows OpenCV and expects BGR uint8; our images are RGB PIL."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


class InsightFaceAnalyzer:
    """Detect and embed faces with an insightface pack on disk (only detection + recognition load).

    Loading is eager so a broken pack fails at startup, not on a user's first upload. A lock
    serialises `analyze`: ONNX sessions are thread-safe, but the models' mutable state is not
    documented as such and faces are analysed one image at a time anyway.
    """

    backend = BACKEND
    dim = EMBED_DIM

    def __init__(
        self,
        model_dir: Path,
        det_size: int = 640,
        providers: Sequence[str] = (CPU,),
    ) -> None:
        folder = check_model_dir(model_dir)
        self.model_dir = folder
        self.det_size = int(det_size)
        self.providers = tuple(providers)
        self._lock = threading.Lock()
        try:
            from insightface.app import FaceAnalysis
        except ImportError as exc:
            raise ModelUnavailable(
                "the insightface package is not installed; run pip install insightface onnxruntime "
                "or set LIKENESS_FACE_BACKEND=dlib"
            ) from exc
        try:
            # An absolute, existing directory: FaceAnalysis loads it as is and never downloads.
            app = FaceAnalysis(
                name=str(folder), providers=list(self.providers), allowed_modules=["detection", "recognition"]
            )
        except AssertionError as exc:  # FaceAnalysis asserts that a detector was found
            raise ModelUnavailable(
                f"the face model folder {folder} has no face detector model; {_where_to_get(folder)}"
            ) from exc
        except Exception as exc:  # corrupt or foreign ONNX files; onnxruntime raises its own types
            logger.exception("cannot load the face models in %s", folder)
            raise ModelUnavailable(
                f"the face models in {folder} cannot be loaded ({type(exc).__name__}); "
                "download the pack again and replace the files"
            ) from exc
        if "recognition" not in app.models:
            raise ModelUnavailable(
                f"the face model folder {folder} has a detector but no recognition model "
                f"(such as buffalo_l's w600k_r50.onnx); {_where_to_get(folder)}"
            )
        app.prepare(ctx_id=ctx_id_for(self.providers), det_size=(self.det_size, self.det_size))
        self._app = app
        out_shape = getattr(app.models["recognition"], "output_shape", None) or [EMBED_DIM]
        self.dim = out_shape[-1] if isinstance(out_shape[-1], int) else EMBED_DIM
        logger.debug(
            "insightface face models loaded from %s (det_size %d, providers %s, %d-d embeddings)",
            folder,
            self.det_size,
            ",".join(self.providers),
            self.dim,
        )

    def analyze(self, image: Image.Image) -> list[Face]:
        """All faces in `image`, largest first, each with a normalised embedding."""
        bgr = to_bgr(image)
        with self._lock:
            found = self._app.get(bgr)
        faces = []
        for item in found:
            embedding = getattr(item, "embedding", None)
            if embedding is None:
                logger.warning("insightface returned a face without an embedding; skipping it")
                continue
            x0, y0, x1, y1 = (float(v) for v in item.bbox[:4])
            faces.append(
                Face(
                    box=(x0, y0, x1, y1),
                    landmarks=None if item.kps is None else np.asarray(item.kps, dtype=np.float32),
                    score=float(item.det_score),
                    embedding=np.asarray(embedding, dtype=np.float32),
                )
            )
        logger.debug("insightface found %d face(s) in a %dx%d image", len(faces), *image.size)
        return sort_largest_first(faces)
