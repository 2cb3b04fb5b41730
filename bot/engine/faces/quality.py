"""Quality rules for a character reference: one clear face, big and sharp enough, same person as the set.

Hard errors make the reference unusable (no face, several faces, too small, set full). Warnings are
shown to the user but accepted (blur, exposure, side profile, more references than help). A face that
does not match the rest of the set sets `inconsistent`: the caller refuses it unless the user insists
(`force`), because a wrong person silently poisons every generation that uses the set.

Image metrics are measured on the face crop resized to `STANDARD_CROP` px, so they do not depend on
the photo's resolution; numbers behind each default are in the comments of `QualityRules`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from bot.engine.faces.similarity import cosine
from bot.engine.faces.types import Face

logger = logging.getLogger(__name__)

STANDARD_CROP = 112
"""Side of the grey face crop the image metrics use (ArcFace's input size)."""

CLIP_LOW = 8
CLIP_HIGH = 247
"""Grey levels at or beyond which a pixel counts as clipped (crushed shadow or blown highlight)."""


@dataclass(frozen=True)
class QualityRules:
    """Thresholds for `assess_reference`; use `for_backend` to get a backend's measured defaults.

    Measurements (dlib backend, faces of insightface's `t1.jpg` and `Tom_Hanks_54745.png`, crops of 1–3×
    the face box scaled 1–3×; see `tests/engine/faces`):

    * sharpness (`sharpness`, relative Laplacian variance of the 112 px grey crop): the photos' faces at
      1–3× scale 34–77; Gaussian blur of 1 % of the face width 6–22, 1.5 % 2–10, 2 % 2–6; darkened
      to 30 % or halved contrast (not blurred) 38–88. 25 sits between blur of 1 % and every sharp crop.
    * exposure (mean grey level of the crop): the photos' faces 114–187; darkened to 20 % 29–33 and
      to 30 % 44–50 (dlib still finds both); brightened 1.8× 214–244. [50, 205] warns on those.
      Clipped pixels: sharp crops ≤ 2 %, brightened 1.8× 43–83 %: more than 30 % warns.
    * yaw (`yaw_ratio`): frontal faces 0.03–0.13, a slightly turned one 0.28–0.33, t1's three-quarter
      view (about 45°) 0.37–0.39. 0.35 warns from three-quarter views on; dlib's HOG detector stops
      finding faces somewhere past that, insightface goes on to full profiles.
    * consistency (cosine of the new face to the normalised mean of the set): dlib, same person
      (other crops, scales, mirror) ≥ 0.98, blurred or darkened ≥ 0.96; a different person against a
      one-person set 0.80–0.91. dlib's documented rule (raw Euclidean < 0.6) equals cosine ≈ 0.91 on
      normalised vectors (fitted on t1's pairs, raw norms 1.36–1.59): 0.91. The most alike strangers
      in t1 reach 0.91, so dlib separates people less well than insightface. insightface: 0.35 (the
      usual ArcFace/buffalo_l operating point; not measurable here without a real pack; the tiny
      synthetic pack gives same person ≥ 0.98 and different seeds ≤ 0.33).
    """

    min_face_area_fraction: float = 0.05
    min_face_width_px: float = 80.0
    sharpness_warn: float = 25.0
    exposure_warn: tuple[float, float] = (50.0, 205.0)
    clipped_warn: float = 0.30
    yaw_warn: float = 0.35
    consistency_min: float = 0.35
    soft_max_refs: int = 8
    hard_max_refs: int = 20

    @classmethod
    def for_backend(cls, backend: str) -> QualityRules:
        """Defaults for a face backend: only the consistency threshold differs (embedding spaces do)."""
        if backend == "dlib":
            return cls(consistency_min=0.91)
        return cls()


@dataclass(frozen=True)
class QualityReport:
    """Outcome of `assess_reference`.

    `face` is the face the reference stands for (None unless exactly one was found). `errors` make it
    unusable; `warnings` are advice. `inconsistent` means it looks like someone else than the set; its
    message is `inconsistency_message` (also the first warning). `metrics` holds the measured numbers
    (`face_count`, `face_area_fraction`, `face_width_px`, `sharpness`, `brightness`, `clipped_fraction`,
    `yaw`, `consistency`) for logs, `/character show` and threshold tuning.
    """

    face: Face | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    inconsistent: bool = False

    @property
    def ok(self) -> bool:
        """No hard error (an inconsistent face is still "ok" here; see `blocking_reason`)."""
        return not self.errors

    @property
    def inconsistency_message(self) -> str | None:
        if not self.inconsistent:
            return None
        return inconsistency_message(self.metrics.get("consistency", float("nan")))

    def blocking_reason(self, force: bool = False) -> str | None:
        """Why the reference must be refused, or None: the first error, else inconsistency unless forced."""
        if self.errors:
            return self.errors[0]
        if self.inconsistent and not force:
            return self.inconsistency_message
        return None


def inconsistency_message(similarity: float) -> str:
    return (
        f"this looks like a different person than the rest of the set (similarity {similarity:.2f}); "
        "add it anyway with force if it really is the same person"
    )


def assess_reference(
    image: Image.Image,
    faces: Sequence[Face],
    others: Sequence[np.ndarray],
    rules: QualityRules,
    set_size: int,
) -> QualityReport:
    """Check one candidate reference `image` (whose analysis is `faces`) against a set.

    `others` are the embeddings already in the set (same backend), `set_size` how many references it
    holds now (normally `len(others)`, kept separate so references without a face still count).
    """
    errors: list[str] = []
    warnings: list[str] = []
    metrics: dict[str, float] = {"face_count": float(len(faces))}
    inconsistent = False

    if set_size >= rules.hard_max_refs:
        errors.append(
            f"the set already has {set_size} references, the maximum is {rules.hard_max_refs}: "
            "remove weak ones with /character prune first"
        )
    if not faces:
        errors.append("no face found: use a photo where the face is clearly visible")
    elif len(faces) > 1:
        errors.append(f"{len(faces)} faces found: crop to one person")

    face = faces[0] if len(faces) == 1 else None
    if face is not None:
        box = _clamped_box(face, image.size)
        width = box[2] - box[0]
        area_fraction = width * (box[3] - box[1]) / float(image.width * image.height)
        metrics["face_area_fraction"] = area_fraction
        metrics["face_width_px"] = width
        too_small = area_fraction < rules.min_face_area_fraction or width < rules.min_face_width_px
        if too_small:
            errors.append(
                f"the face is too small ({area_fraction:.1%} of the picture, {width:.0f} px wide; it needs "
                f"at least {rules.min_face_area_fraction:.0%} and {rules.min_face_width_px:.0f} px): "
                "crop closer to the face or use a larger photo"
            )
        grey = face_crop(image, face)
        metrics["sharpness"] = sharpness(grey)
        metrics["brightness"] = float(grey.mean())
        metrics["clipped_fraction"] = clipped_fraction(grey)
        yaw = yaw_ratio(face)
        if yaw is not None:
            metrics["yaw"] = yaw

        if metrics["sharpness"] < rules.sharpness_warn:
            warnings.append("the face looks blurry: a sharper photo gives a better likeness")
        low, high = rules.exposure_warn
        if metrics["brightness"] < low:
            warnings.append("the face is very dark: use a better-lit photo")
        elif metrics["brightness"] > high:
            warnings.append("the face is very bright: use a photo that is not overexposed")
        elif metrics["clipped_fraction"] > rules.clipped_warn:
            warnings.append("much of the face is pure black or white: use a photo with softer light")
        if yaw is not None and abs(yaw) > rules.yaw_warn:
            warnings.append("side profile or strongly turned face: keep frontal views in the set")

        if others and not errors:
            similarity = similarity_to_set(face.embedding, others)
            metrics["consistency"] = similarity
            if similarity < rules.consistency_min:
                inconsistent = True
                warnings.insert(0, inconsistency_message(similarity))

    if not errors and set_size + 1 > rules.soft_max_refs:
        warnings.append(
            f"the set will have {set_size + 1} references: 1 primary and 4–{rules.soft_max_refs} references "
            "work best; remove weak ones with /character prune"
        )
    report = QualityReport(
        face=face,
        errors=tuple(errors),
        warnings=tuple(warnings),
        metrics=metrics,
        inconsistent=inconsistent,
    )
    logger.debug("reference assessed: errors=%s warnings=%s metrics=%s", errors, warnings, metrics)
    return report


def similarity_to_set(embedding: np.ndarray, others: Sequence[np.ndarray]) -> float:
    """Cosine of `embedding` to the normalised (unweighted) mean of the set's normalised embeddings."""
    rows = np.stack([np.asarray(o, dtype=np.float32).reshape(-1) for o in others])
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit = rows / np.where(norms == 0.0, 1.0, norms)
    return cosine(embedding, unit.mean(axis=0))


def _clamped_box(face: Face, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The face box cut to the image: detectors extrapolate past the border for cut-off faces."""
    width, height = size
    x0, y0, x1, y1 = face.box
    x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
    y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
    return x0, y0, max(x1, x0), max(y1, y0)


def face_crop(image: Image.Image, face: Face, size: int = STANDARD_CROP) -> np.ndarray:
    """Grey face crop (float32, 0–255) resized to `size`², so metrics ignore the photo's resolution."""
    x0, y0, x1, y1 = _clamped_box(face, image.size)
    left, top = math.floor(x0), math.floor(y0)
    right, bottom = max(math.ceil(x1), left + 1), max(math.ceil(y1), top + 1)
    crop = image.convert("L").crop((left, top, right, bottom))
    crop = crop.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(crop, dtype=np.float32)


def sharpness(grey: np.ndarray) -> float:
    """Relative Laplacian variance: 1000 × var(4-neighbour Laplacian) / var(crop); 0 for a flat crop.

    Fine detail (pores, lashes, hair) is what blur removes first, and the Laplacian measures it.
    Dividing by the crop's own variance makes the number independent of exposure and contrast: the
    plain Laplacian variance of a face darkened to 30 % drops as low as that of a blurred one.
    """
    g = np.asarray(grey, dtype=np.float64)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return 0.0
    spread = float(g.var())
    if spread < 1e-6:
        return 0.0
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(1000.0 * lap.var() / spread)


def clipped_fraction(grey: np.ndarray) -> float:
    """Share of pixels crushed to black or blown to white, where no detail survives."""
    g = np.asarray(grey)
    if g.size == 0:
        return 0.0
    return float(np.mean((g <= CLIP_LOW) | (g >= CLIP_HIGH)))


def yaw_ratio(face: Face) -> float | None:
    """Head turn from landmarks: the nose's offset from the eye midpoint along the eye line / eye distance.

    About 0 for a frontal face and roughly (nose depth / eye distance)·tan(yaw) as the head turns, so
    it grows quickly towards a profile (about 0.4 at 45° with dlib's nose point, more with insightface's
    nose tip). The sign says which way (positive: the nose is towards the image's right). Measured
    along the eye line, so a tilted (rolled) head is not mistaken for a turned one. None without
    landmarks or with coincident eyes.
    """
    if face.landmarks is None:
        return None
    left_eye, right_eye, nose = (np.asarray(p, dtype=np.float64) for p in face.landmarks[:3])
    across = right_eye - left_eye
    distance = float(np.linalg.norm(across))
    if not np.isfinite(distance) or distance < 1e-6:
        return None
    offset = nose - (left_eye + right_eye) / 2.0
    return float(np.dot(offset, across) / (distance * distance))
