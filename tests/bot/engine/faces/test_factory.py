"""Backend selection, missing dlib models, and the engine's import boundary."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.engine.faces import BACKENDS, dlib_backend, load_face_analyzer
from bot.engine.faces.dlib_backend import DlibAnalyzer, landmarks_from_dlib, models_folder
from bot.errors import ModelUnavailable, SettingsInvalid


def test_backends() -> None:
    assert BACKENDS == ("insightface", "dlib")
    analyzer = load_face_analyzer("dlib", Path("/nonexistent"), 640)  # dlib ignores the folder
    assert isinstance(analyzer, DlibAnalyzer) and (analyzer.backend, analyzer.dim) == ("dlib", 128)
    with pytest.raises(SettingsInvalid, match="LIKENESS_FACE_BACKEND"):
        load_face_analyzer("mediapipe", Path("."), 640)


def test_insightface_factory_checks_the_folder_first(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="LIKENESS_FACE_MODEL_DIR"):
        load_face_analyzer("insightface", tmp_path / "missing", 640)


def test_dlib_models_are_read_without_importing_their_package() -> None:
    folder = models_folder()
    assert (folder / dlib_backend.SHAPE_PREDICTOR_FILE).is_file()
    assert "face_recognition_models" not in sys.modules  # its __init__ needs pkg_resources


def test_missing_dlib_models_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ModelUnavailable, match="pip install dlib-bin face-recognition-models"):
        DlibAnalyzer()


def test_dlib_points_map_to_the_five_point_layout() -> None:
    # dlib order: image-right eye (outer, inner), image-left eye (outer, inner), bottom of the nose.
    points = np.array([[140, 100], [120, 100], [60, 100], [80, 100], [100, 130]], dtype=float)
    left_eye, right_eye, nose, left_mouth, right_mouth = landmarks_from_dlib(points)
    np.testing.assert_allclose(left_eye, [70, 100])
    np.testing.assert_allclose(right_eye, [130, 100])
    np.testing.assert_allclose(nose, [100, 130])
    # Estimated mouth: 0.3 eye distances (60 px) below the nose, ±0.45 eye distances wide.
    np.testing.assert_allclose(left_mouth, [73, 148])
    np.testing.assert_allclose(right_mouth, [127, 148])


def test_the_face_engine_imports_neither_discord_nor_the_database() -> None:
    code = (
        "import sys, bot.engine.faces, bot.engine.faces.dlib_backend, bot.engine.faces.insightface_backend;"
        "print(sorted(m for m in ('discord', 'aiosqlite') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
