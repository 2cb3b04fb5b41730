"""Quality rules on hand-made faces: every message, threshold and boundary, without any model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from bot.engine.faces import Face, QualityRules, assess_reference
from bot.engine.faces.quality import clipped_fraction, face_crop, sharpness, yaw_ratio

RULES = QualityRules()
# Landmarks of a frontal face in a 100 px box at (50, 50): eyes level, nose centred.
FRONTAL = np.array([[80, 90], [120, 90], [100, 110], [85, 125], [115, 125]], dtype=np.float32)


def blocks(size: int = 200, cell: int = 5, levels: tuple[int, ...] = (60, 110, 150, 200), seed: int = 0):
    """Random grey cells with crisp edges: sharp, unlike a blurred copy of itself."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(np.asarray(levels, dtype=np.uint8), size=(-(-size // cell),) * 2)
    grey = cells.repeat(cell, axis=0).repeat(cell, axis=1)[:size, :size]
    return Image.fromarray(grey, "L").convert("RGB")


def textured(size: int = 200) -> Image.Image:
    return blocks(size)


def make_face(box=(50.0, 50.0, 150.0, 150.0), landmarks=FRONTAL, embedding=(1.0, 0.0, 0.0)) -> Face:
    return Face(box=box, landmarks=landmarks, score=0.99, embedding=np.asarray(embedding))


def test_a_good_reference_passes_cleanly() -> None:
    image = textured()
    report = assess_reference(image, [make_face()], others=[], rules=RULES, set_size=0)
    assert report.ok and report.errors == () and report.warnings == ()
    assert report.face is not None and not report.inconsistent
    assert report.blocking_reason() is None
    assert report.metrics["face_area_fraction"] == pytest.approx(0.25)
    assert report.metrics["face_width_px"] == pytest.approx(100)
    assert report.metrics["yaw"] == pytest.approx(0.0)


def test_no_face_and_several_faces_are_errors() -> None:
    image = textured()
    none = assess_reference(image, [], [], RULES, 0)
    assert none.errors == ("no face found: use a photo where the face is clearly visible",)
    assert none.face is None and none.blocking_reason() == none.errors[0]
    three = assess_reference(image, [make_face()] * 3, [], RULES, 0)
    assert three.errors == ("3 faces found: crop to one person",)
    assert three.face is None


def test_too_small_says_what_was_measured_and_what_is_needed() -> None:
    image = textured(1000)
    report = assess_reference(image, [make_face(box=(0, 0, 100, 100))], [], RULES, 0)
    (error,) = report.errors
    assert "1.0% of the picture" in error and "100 px wide" in error
    assert "at least 5%" in error and "80 px" in error
    narrow = assess_reference(textured(100), [make_face(box=(10, 10, 70, 90))], [], RULES, 0)
    assert "60 px wide" in narrow.errors[0]


def test_the_box_is_clamped_to_the_picture() -> None:
    report = assess_reference(textured(), [make_face(box=(-50.0, -50.0, 100.0, 100.0))], [], RULES, 0)
    assert report.metrics["face_width_px"] == pytest.approx(100)


def test_set_size_limits() -> None:
    image, faces = textured(), [make_face()]
    assert assess_reference(image, faces, [], RULES, set_size=7).warnings == ()
    (warning,) = assess_reference(image, faces, [], RULES, set_size=8).warnings
    assert "1 primary and 4–8 references work best" in warning and "/character prune" in warning
    full = assess_reference(image, faces, [], RULES, set_size=20)
    assert "maximum is 20" in full.errors[0]


def test_inconsistent_face_blocks_unless_forced() -> None:
    image = textured()
    others = [np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.9, 0.1])]
    report = assess_reference(image, [make_face(embedding=(0.2, 1.0, 0.0))], others, RULES, 2)
    assert not report.inconsistent and report.metrics["consistency"] > 0.9
    stranger = assess_reference(image, [make_face(embedding=(1.0, 0.2, 0.0))], others, RULES, 2)
    assert stranger.inconsistent and stranger.ok
    similarity = stranger.metrics["consistency"]
    assert similarity == pytest.approx(0.2, abs=0.01)
    message = f"this looks like a different person than the rest of the set (similarity {similarity:.2f})"
    assert stranger.warnings[0].startswith(message)
    assert stranger.blocking_reason() == stranger.inconsistency_message == stranger.warnings[0]
    assert stranger.blocking_reason(force=True) is None


def test_blur_exposure_and_profile_warnings() -> None:
    sharp = textured()
    assert sharpness(face_crop(sharp, make_face())) > 4 * RULES.sharpness_warn
    blurry = sharp.filter(ImageFilter.GaussianBlur(4))
    (warning,) = assess_reference(blurry, [make_face()], [], RULES, 0).warnings
    assert "blurry" in warning
    dark = Image.eval(sharp, lambda v: v // 6)
    (warning,) = assess_reference(dark, [make_face()], [], RULES, 0).warnings
    assert "very dark" in warning
    bright = Image.eval(sharp, lambda v: min(255, v + 120))
    assert "very bright" in assess_reference(bright, [make_face()], [], RULES, 0).warnings[0]
    profile = FRONTAL.copy()
    profile[2] = (117, 110)  # nose 0.425 eye distances towards the image's right
    (warning,) = assess_reference(sharp, [make_face(landmarks=profile)], [], RULES, 0).warnings
    assert warning.startswith("side profile")


def test_harsh_light_warns_about_clipping() -> None:
    image = blocks(cell=20, levels=(0, 255), seed=1)
    grey = face_crop(image, make_face())
    assert clipped_fraction(grey) > RULES.clipped_warn
    assert 50 < grey.mean() < 205
    warnings = assess_reference(image, [make_face()], [], RULES, 0).warnings
    assert any("pure black or white" in w for w in warnings)


def test_sharpness_ignores_exposure_and_flat_crops() -> None:
    grey = np.asarray(textured().convert("L"), dtype=np.float32)
    assert sharpness(grey * 0.25) == pytest.approx(sharpness(grey), rel=1e-6)
    assert sharpness(np.full((112, 112), 80.0)) == 0.0


def test_yaw_ratio() -> None:
    assert yaw_ratio(make_face()) == pytest.approx(0.0)
    turned = FRONTAL.copy()
    turned[2] = (88, 110)
    assert yaw_ratio(make_face(landmarks=turned)) == pytest.approx(-0.3)
    # A rolled (tilted) frontal face is not a turned one.
    angle = np.deg2rad(30)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = (FRONTAL - 100) @ rotation.T + 100
    assert yaw_ratio(make_face(landmarks=rolled)) == pytest.approx(0.0, abs=1e-5)
    assert yaw_ratio(make_face(landmarks=None)) is None


def test_backend_defaults() -> None:
    assert QualityRules.for_backend("insightface").consistency_min == 0.35
    assert QualityRules.for_backend("dlib").consistency_min == 0.91
    rules = QualityRules()
    assert (rules.min_face_area_fraction, rules.min_face_width_px) == (0.05, 80.0)
    assert (rules.soft_max_refs, rules.hard_max_refs) == (8, 20)
