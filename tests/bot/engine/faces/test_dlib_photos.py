"""The dlib backend and the quality rules on real photos (insightface's t1.jpg and Tom Hanks)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from bot.engine.faces import QualityRules, assess_reference, consistency, cosine
from bot.engine.faces.dlib_backend import DlibAnalyzer
from bot.engine.faces.quality import yaw_ratio
from bot.engine.faces.types import Face
from bot.engine.images import load_image
from tests.bot.engine.faces.photos import blurred, crop_face, darkened, flat_image, placed_small
from tests.bot.engine.helpers import png_bytes

RULES = QualityRules.for_backend("dlib")
# t1.jpg, left to right: 0, 2, 3 and 5 face the camera; 1 is a three-quarter view; 4 is slightly turned.
FRONTAL = (0, 2, 3, 5)
TURNED = 1


def only_face(analyzer: DlibAnalyzer, image: Image.Image) -> Face:
    faces = analyzer.analyze(image)
    assert len(faces) == 1, f"expected one face, found {len(faces)}"
    return faces[0]


def assess(analyzer: DlibAnalyzer, image: Image.Image, others=(), set_size: int = 0):
    return assess_reference(image, analyzer.analyze(image), list(others), RULES, set_size)


def test_t1_has_six_faces_and_is_refused(dlib_analyzer, t1, t1_analysis, t1_faces) -> None:
    assert len(t1_faces) == 6
    for face in t1_faces:
        assert face.embedding.shape == (dlib_analyzer.dim,) == (128,)
        assert face.embedding.dtype == np.float32
        assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
        assert face.landmarks is not None and face.landmarks.shape == (5, 2)
        left_eye, right_eye, nose = face.landmarks[:3]
        assert left_eye[0] < nose[0] < right_eye[0]  # viewer's left eye first
        assert face.box[0] <= nose[0] <= face.box[2] and face.box[1] <= nose[1] <= face.box[3]
    areas = [face.area for face in t1_analysis]
    assert areas == sorted(areas, reverse=True)
    report = assess_reference(t1, t1_faces, [], RULES, 0)
    assert report.errors == ("6 faces found: crop to one person",)


def test_no_face_in_background_or_flat_images(dlib_analyzer, t1) -> None:
    for image in (t1.crop((0, 600, 400, 886)), t1.crop((0, 0, 250, 250)), flat_image()):
        report = assess(dlib_analyzer, image)
        assert report.errors == ("no face found: use a photo where the face is clearly visible",)


def test_one_face_crop_is_a_good_reference(dlib_analyzer, t1, t1_faces) -> None:
    # Through the real upload path: PNG bytes → load_image → analysis.
    image = load_image(png_bytes(crop_face(t1, t1_faces[0], margin=1.0, scale=2.0)), what="reference")
    report = assess(dlib_analyzer, image)
    assert report.errors == () and report.warnings == ()
    assert report.face is not None and report.face.width >= RULES.min_face_width_px
    metrics = report.metrics
    assert metrics["face_area_fraction"] > 0.08
    assert metrics["sharpness"] > 1.3 * RULES.sharpness_warn
    assert 100 < metrics["brightness"] < 200 and abs(metrics["yaw"]) < 0.15


def test_tom_hanks_portrait_is_one_usable_face(dlib_analyzer, hanks) -> None:
    report = assess(dlib_analyzer, hanks)
    assert report.errors == ()
    assert 80 <= report.metrics["face_width_px"] <= 112


def test_face_small_in_a_big_picture_is_too_small(dlib_analyzer, t1, t1_faces) -> None:
    image = placed_small(crop_face(t1, t1_faces[0], margin=1.0, scale=1.0), canvas_side=1600)
    report = assess(dlib_analyzer, image)
    (error,) = report.errors
    assert error.startswith("the face is too small (0.")
    assert "at least 5%" in error and report.metrics["face_area_fraction"] < 0.01


def test_face_under_80_px_is_too_small(dlib_analyzer, t1, t1_faces) -> None:
    face = t1_faces[0]
    image = crop_face(t1, face, margin=0.4, scale=60 / face.width)
    report = assess(dlib_analyzer, image)
    assert report.metrics["face_area_fraction"] > 0.2  # big in the picture, but too few pixels
    (error,) = report.errors
    assert f"{report.metrics['face_width_px']:.0f} px wide" in error and "80 px" in error


@pytest.fixture(scope="module")
def variants(dlib_analyzer, t1, t1_faces) -> dict[tuple[int, int], np.ndarray]:
    """Embeddings of three different crops/scales/mirrors of each t1 person: (person, variant) → vector."""
    settings = [
        {"margin": 1.0, "scale": 2.0},
        {"margin": 0.6, "scale": 1.5, "mirror": True},
        {"margin": 0.5, "scale": 3.0},
    ]
    return {
        (person, index): only_face(dlib_analyzer, crop_face(t1, t1_faces[person], **kwargs)).embedding
        for person in range(6)
        for index, kwargs in enumerate(settings)
    }


def test_same_person_scores_clearly_higher_than_different_people(variants) -> None:
    pairs = list(itertools.combinations(variants, 2))
    same = [cosine(variants[a], variants[b]) for a, b in pairs if a[0] == b[0]]
    different = [cosine(variants[a], variants[b]) for a, b in pairs if a[0] != b[0]]
    # Measured: same person 0.982–1.000; six different people 0.786–0.912.
    assert min(same) > 0.97
    assert max(different) < 0.93
    assert min(same) - max(different) > 0.05
    assert np.mean(same) - np.mean(different) > 0.1


def test_blurred_face_warns(dlib_analyzer, t1, t1_faces) -> None:
    sharp = crop_face(t1, t1_faces[2], margin=1.0, scale=2.0)
    assert "blurry" not in " ".join(assess(dlib_analyzer, sharp).warnings)
    # 2 px on a ~220 px face is 1 % of its width: measured 9–22 against sharp crops' 34–77.
    report = assess(dlib_analyzer, blurred(sharp, 2))
    assert report.errors == ()
    assert report.warnings == ("the face looks blurry: a sharper photo gives a better likeness",)


def test_dark_face_warns_about_exposure_not_blur(dlib_analyzer, t1, t1_faces) -> None:
    report = assess(dlib_analyzer, darkened(crop_face(t1, t1_faces[0], margin=1.0, scale=2.0), 0.2))
    assert report.errors == ()
    assert report.metrics["brightness"] < 40
    assert report.warnings == ("the face is very dark: use a better-lit photo",)


def test_turned_face_warns_and_frontal_faces_do_not(dlib_analyzer, t1, t1_faces) -> None:
    for person in FRONTAL:
        assert abs(yaw_ratio(t1_faces[person])) < 0.15
    turned = crop_face(t1, t1_faces[TURNED], margin=0.8, scale=2.5)
    for image in (turned, turned.transpose(Image.Transpose.FLIP_LEFT_RIGHT)):
        report = assess(dlib_analyzer, image)
        assert abs(report.metrics["yaw"]) > RULES.yaw_warn
        assert any(w.startswith("side profile") for w in report.warnings)


def test_a_different_person_is_flagged_and_the_same_one_is_not(dlib_analyzer, t1, t1_faces, variants) -> None:
    person_0 = [variants[(0, index)] for index in range(3)]
    same = crop_face(t1, t1_faces[0], margin=0.8, scale=2.5, mirror=True)
    report = assess(dlib_analyzer, same, person_0, set_size=3)
    assert not report.inconsistent and report.metrics["consistency"] > 0.97
    # Person 2 against person 0's set: measured 0.86, dlib's threshold is 0.91.
    other = crop_face(t1, t1_faces[2], margin=0.8, scale=2.5, mirror=True)
    report = assess(dlib_analyzer, other, person_0, set_size=3)
    assert report.inconsistent and report.errors == ()
    assert report.metrics["consistency"] < RULES.consistency_min - 0.03
    similarity = report.metrics["consistency"]
    assert report.warnings[0].startswith(
        f"this looks like a different person than the rest of the set (similarity {similarity:.2f})"
    )
    assert report.blocking_reason() is not None and report.blocking_reason(force=True) is None
    # In a set, the stranger is the one with the lowest score against the rest.
    scores = consistency([*person_0, report.face.embedding])
    assert int(np.argmin(scores)) == 3 and min(scores[:3]) > 0.97


def test_large_photos_are_scaled_for_detection_only(dlib_analyzer, t1, t1_faces) -> None:
    big = crop_face(t1, t1_faces[3], margin=1.5, scale=4.0)  # ~1800 px: detection runs at 1024
    assert max(big.size) > dlib_analyzer.detect_max_side
    face = only_face(dlib_analyzer, big)
    reference = only_face(dlib_analyzer, crop_face(t1, t1_faces[3], margin=1.5, scale=2.0))
    assert face.width == pytest.approx(2 * reference.width, rel=0.2)
    assert cosine(face.embedding, reference.embedding) > 0.97
