"""The insightface backend through the real `FaceAnalysis`, with the tiny synthetic face pack.

Every test here runs with insightface's download functions replaced by ones that fail, so a code path
that would fetch a pack from GitHub fails loudly instead of going online.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from insightface.app import FaceAnalysis

from bot.engine.faces import QualityRules, assess_reference, consistency, cosine, load_face_analyzer
from bot.engine.faces.insightface_backend import InsightFaceAnalyzer, ctx_id_for, to_bgr
from bot.errors import ModelUnavailable
from bot.tiny import TinyBundle
from bot.tiny.face_pack import DET_INPUT_SIZE, DETECTOR_FILE, EMBED_DIM, RECOGNIZER_FILE
from tests.bot.engine.faces.photos import flat_image, marker_image, noise_image

RULES = QualityRules.for_backend("insightface")
# Background, image size and box variations of one synthetic person.
LAYOUTS = [
    {},
    {"size": 320, "box": (100, 80, 220, 200)},
    {"size": 200, "box": (20, 40, 120, 140), "background": (30, 30, 30)},
    {"size": 512, "box": (200, 200, 400, 400), "background": (200, 220, 240)},
]


class DownloadAttempted(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise DownloadAttempted(f"insightface tried to download {args!r}")

    # By module path: `insightface.utils.download` the attribute is a function shadowing the module.
    for module, name in (
        ("insightface.utils.storage", "download"),
        ("insightface.utils.storage", "ensure_available"),
        ("insightface.utils.storage", "download_onnx"),
        ("insightface.utils.storage", "download_file"),
        ("insightface.utils.download", "download_file"),
        ("insightface.app.face_analysis", "ensure_available"),
        ("insightface.model_zoo.model_zoo", "download_onnx"),
    ):
        monkeypatch.setattr(importlib.import_module(module), name, refuse)


def test_the_download_guard_works() -> None:
    """Proof that the guard catches what our own folder check exists to prevent."""
    with pytest.raises(DownloadAttempted):
        FaceAnalysis(name="buffalo_l_not_here", providers=["CPUExecutionProvider"])


def test_one_marker_is_one_face_with_a_normalised_512d_embedding(tiny_analyzer) -> None:
    assert (tiny_analyzer.backend, tiny_analyzer.dim) == ("insightface", EMBED_DIM)
    (face,) = tiny_analyzer.analyze(marker_image(seed=0))
    assert face.box == pytest.approx((64, 64, 160, 160), abs=1)
    assert face.score == pytest.approx(0.9)
    assert face.embedding.shape == (512,) and face.embedding.dtype == np.float32
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
    assert face.landmarks is not None and face.landmarks.shape == (5, 2)
    left_eye, right_eye, nose, left_mouth, right_mouth = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
    assert nose[1] > left_eye[1] and left_mouth[1] > nose[1]
    report = assess_reference(marker_image(seed=0), [face], [], RULES, 0)
    assert report.errors == () and report.face is face
    assert abs(report.metrics["yaw"]) < 0.05


def test_two_markers_are_two_faces_largest_first(tiny_analyzer) -> None:
    image = marker_image(seed=0, size=320, box=(20, 20, 100, 100))
    marker_image_two = marker_image(seed=1, size=320, box=(170, 170, 290, 290))
    image.paste(marker_image_two.crop((170, 170, 290, 290)), (170, 170))
    faces = tiny_analyzer.analyze(image)
    assert len(faces) == 2 and faces[0].area > faces[1].area
    report = assess_reference(image, faces, [], RULES, 0)
    assert report.errors == ("2 faces found: crop to one person",)


@pytest.mark.parametrize("image", [flat_image(), noise_image()], ids=["flat", "noise"])
def test_no_marker_is_no_face(tiny_analyzer, image) -> None:
    faces = tiny_analyzer.analyze(image)
    assert faces == []
    report = assess_reference(image, faces, [], RULES, 0)
    assert report.errors == ("no face found: use a photo where the face is clearly visible",)


def test_same_seed_is_similar_and_different_seeds_are_not(tiny_analyzer) -> None:
    embeddings = {
        (seed, index): tiny_analyzer.analyze(marker_image(seed, **layout))[0].embedding
        for seed in (0, 1, 3)
        for index, layout in enumerate(LAYOUTS)
    }
    keys = list(embeddings)
    same = [cosine(embeddings[a], embeddings[b]) for a in keys for b in keys if a < b and a[0] == b[0]]
    different = [cosine(embeddings[a], embeddings[b]) for a in keys for b in keys if a < b and a[0] != b[0]]
    # Measured over seeds 0–4: same person 0.986–1.000, different people −0.34–0.33 (0, 1, 3: ≤ 0.21).
    assert min(same) > 0.95
    assert max(different) < 0.3 < RULES.consistency_min
    assert min(same) - max(different) > 0.6
    person_0 = [embeddings[(0, index)] for index in range(4)]
    stranger = tiny_analyzer.analyze(marker_image(1))[0]
    report = assess_reference(marker_image(1), [stranger], person_0, RULES, set_size=4)
    assert report.inconsistent and report.metrics["consistency"] < RULES.consistency_min
    assert int(np.argmin(consistency([*person_0, stranger.embedding]))) == 4
    again = tiny_analyzer.analyze(marker_image(0, size=300, box=(90, 90, 200, 200)))[0]
    assert not assess_reference(marker_image(0), [again], person_0, RULES, set_size=4).inconsistent


def test_factory_loads_the_pack_from_a_relative_path(
    tiny_bundle: TinyBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_bundle.face_model_dir.parent)
    analyzer = load_face_analyzer("insightface", Path(tiny_bundle.face_model_dir.name), DET_INPUT_SIZE)
    assert isinstance(analyzer, InsightFaceAnalyzer)
    assert analyzer.model_dir == tiny_bundle.face_model_dir.resolve()
    assert len(analyzer.analyze(marker_image(2))) == 1


def test_missing_folder_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as caught:
        InsightFaceAnalyzer(tmp_path / "buffalo_l")
    message = str(caught.value)
    assert str(tmp_path / "buffalo_l") in message and "does not exist" in message
    assert "LIKENESS_FACE_MODEL_DIR" in message and "*.onnx" in message
    assert "buffalo_l" in message and "non-commercial" in message and "dlib" in message


def test_empty_folder_and_nested_pack(tmp_path: Path, tiny_bundle: TinyBundle) -> None:
    with pytest.raises(ModelUnavailable, match=r"has no \*\.onnx files"):
        InsightFaceAnalyzer(tmp_path)
    nested = tmp_path / "buffalo_l"
    shutil.copytree(tiny_bundle.face_model_dir, nested)
    with pytest.raises(ModelUnavailable) as caught:
        InsightFaceAnalyzer(tmp_path)
    assert f"set LIKENESS_FACE_MODEL_DIR to {nested}" in str(caught.value)


@pytest.mark.parametrize(
    ("keep", "expected"),
    [(RECOGNIZER_FILE, "no face detector model"), (DETECTOR_FILE, "no recognition model")],
)
def test_incomplete_pack(tmp_path: Path, tiny_bundle: TinyBundle, keep: str, expected: str) -> None:
    shutil.copy(tiny_bundle.face_model_dir / keep, tmp_path / keep)
    with pytest.raises(ModelUnavailable, match=expected):
        InsightFaceAnalyzer(tmp_path, det_size=DET_INPUT_SIZE)


def test_corrupt_model_file(tmp_path: Path) -> None:
    (tmp_path / "det_10g.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelUnavailable, match="cannot be loaded"):
        InsightFaceAnalyzer(tmp_path)


def test_devices_and_colour_order() -> None:
    assert ctx_id_for(("CPUExecutionProvider",)) == -1
    assert ctx_id_for(("CUDAExecutionProvider", "CPUExecutionProvider")) == 0
    bgr = to_bgr(flat_image(colour=(10, 20, 30)))
    assert bgr.shape == (256, 256, 3) and tuple(bgr[0, 0]) == (30, 20, 10) and bgr.flags.c_contiguous
