"""Face records and the arithmetic on embeddings: no models needed."""

from __future__ import annotations

import numpy as np
import pytest

from bot.engine.faces import Face, FaceAnalyzer, consistency, cosine, set_embedding
from bot.engine.faces.dlib_backend import DlibAnalyzer
from bot.engine.faces.insightface_backend import InsightFaceAnalyzer
from bot.engine.faces.types import sort_largest_first


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def face(box=(0, 0, 10, 10), embedding=(3.0, 4.0), landmarks=None) -> Face:
    return Face(box=box, landmarks=landmarks, score=0.9, embedding=np.asarray(embedding))


def test_face_normalises_its_embedding_and_cannot_be_changed() -> None:
    record = face(embedding=(3.0, 4.0))
    assert record.embedding.dtype == np.float32
    np.testing.assert_allclose(record.embedding, [0.6, 0.8], rtol=1e-6)
    with pytest.raises(ValueError):
        record.embedding[0] = 1.0
    with pytest.raises(AttributeError):
        record.score = 0.1  # type: ignore[misc]
    assert record.width == 10 and record.area == 100


@pytest.mark.parametrize(
    "kwargs",
    [
        {"embedding": (0.0, 0.0)},
        {"embedding": (np.nan, 1.0)},
        {"box": (5, 5, 5, 9)},
        {"landmarks": np.zeros((4, 2))},
    ],
)
def test_face_rejects_broken_records(kwargs) -> None:
    with pytest.raises(ValueError):
        face(**kwargs)


def test_faces_sort_largest_first() -> None:
    small, big = face(box=(0, 0, 10, 10)), face(box=(0, 0, 30, 20))
    assert sort_largest_first([small, big]) == [big, small]


def test_both_backends_satisfy_the_protocol() -> None:
    for cls in (DlibAnalyzer, InsightFaceAnalyzer):
        assert {"backend", "dim", "analyze"} <= set(dir(cls))
    assert isinstance(
        type("Fake", (), {"backend": "x", "dim": 2, "analyze": lambda self, image: []})(), FaceAnalyzer
    )


def test_cosine() -> None:
    assert cosine(unit(1, 0), unit(1, 0)) == pytest.approx(1.0)
    assert cosine(np.array([2.0, 0.0]), np.array([0.0, 5.0])) == pytest.approx(0.0)
    assert cosine(unit(1, 0), unit(-1, 0)) == pytest.approx(-1.0)
    assert cosine(np.zeros(2), unit(1, 0)) == 0.0
    with pytest.raises(ValueError, match="backends"):
        cosine(np.ones(512), np.ones(128))


def test_set_embedding_is_a_normalised_mean_with_the_primary_counted_double() -> None:
    a, b, c = unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)
    plain = set_embedding([a, b, c], primary_index=None)
    np.testing.assert_allclose(plain, unit(1, 1, 1), rtol=1e-6)
    weighted = set_embedding([a, b, c], primary_index=1)
    np.testing.assert_allclose(weighted, unit(1, 2, 1), rtol=1e-6)
    assert np.linalg.norm(weighted) == pytest.approx(1.0)
    np.testing.assert_allclose(set_embedding([a, b], 0, primary_weight=3.0), unit(3, 1, 0), rtol=1e-6)
    # Raw (unnormalised) inputs count by direction, not by length.
    np.testing.assert_allclose(set_embedding([10 * a, b], None), unit(1, 1, 0), rtol=1e-6)


def test_set_embedding_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        set_embedding([], None)
    with pytest.raises(IndexError):
        set_embedding([unit(1, 0)], primary_index=1)
    with pytest.raises(ValueError):
        set_embedding([np.ones(512), np.ones(128)], None)


def test_consistency_scores_each_against_the_rest_and_exposes_the_outlier() -> None:
    rng = np.random.default_rng(0)
    person = unit(*rng.normal(size=64))
    same = [unit(*(person + rng.normal(0, 0.02, 64))) for _ in range(4)]
    stranger = unit(*rng.normal(size=64))
    scores = consistency([*same, stranger])
    assert len(scores) == 5
    assert min(scores[:4]) > 0.9
    assert scores[4] < 0.4
    assert int(np.argmin(scores)) == 4
    # Leave-one-out: the value is the cosine to the mean of the *others*.
    assert scores[4] == pytest.approx(cosine(stranger, np.mean(same, axis=0)), abs=1e-5)
    assert consistency([person]) == [1.0]
    assert consistency([]) == []
