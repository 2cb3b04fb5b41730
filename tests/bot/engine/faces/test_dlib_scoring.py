"""Identity scores from a real face recognizer (dlib) on real photos, through the engine's face lock.

dlib's embeddings are 128-d, so face lock falls back to the image prompt on the primary image (and says
so), while the candidates are still scored with the same backend, as on a bot configured for dlib.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bot.engine.engine import FALLBACK_WARNING, Engine
from bot.engine.faces.dlib_backend import DlibAnalyzer
from bot.engine.faces.types import Face
from bot.engine.identity import encode_identity
from bot.engine.metadata import read_parameters
from bot.params import Mode
from tests.bot.engine.faces.photos import crop_face
from tests.bot.engine.helpers import box_mask, job_request, save


def test_a_kept_real_face_scores_high_for_its_person_and_lower_for_another(
    engine: Engine,
    dlib_analyzer: DlibAnalyzer,
    t1: Image.Image,
    t1_faces: list[Face],
    tmp_path: Path,
) -> None:
    photo = crop_face(t1, t1_faces[1], margin=1.0, scale=2.0)
    [face] = dlib_analyzer.analyze(photo)
    other = dlib_analyzer.analyze(crop_face(t1, t1_faces[4], margin=1.0, scale=2.0))[0]
    scorer = Engine(engine.pipes, engine.model_name, dlib_analyzer)
    source = save(photo, tmp_path / "photo.png")
    w, h = photo.size
    corner = save(box_mask(w, h, (0, 0, w // 6, h // 6)), tmp_path / "corner.png")  # far from the face

    def scores(person: Face) -> list[float | None]:
        result = scorer.generate(
            job_request(
                prompt="new background",
                mode=Mode.INPAINT,
                image=source,
                mask=corner,
                strength=1.0,
                steps=2,
                seed=3,
                candidates=2,
                identity=(encode_identity(person.embedding),),
                identity_image=source,
            )
        )
        assert FALLBACK_WARNING in result.warnings  # 128-d embeddings: no FaceID, said in the result
        assert read_parameters(result.candidates[0].png)["Face lock"] == "image prompt"
        return [c.identity for c in result.candidates]

    own, stranger = scores(face), scores(other)
    assert own == [pytest.approx(1.0, abs=0.01)] * 2  # the face was kept bit-for-bit
    assert all(s is not None and s < own[0] - 0.05 for s in stranger)
