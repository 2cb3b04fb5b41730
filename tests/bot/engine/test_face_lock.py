"""Face lock: FaceID embeddings into the UNet, scoring candidates, bounded retries, the fallback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.app.settings import load_settings
from bot.engine.config import AdapterSource
from bot.engine.engine import FALLBACK_WARNING, Engine
from bot.engine.faces import load_face_analyzer
from bot.engine.faces.types import Face
from bot.engine.identity import encode_identity, score_candidates
from bot.engine.metadata import read_parameters
from bot.errors import InvalidRequest, ModelUnavailable
from bot.jobs import GenerationRequest
from bot.params import Mode, face_lock
from bot.tiny import TinyBundle, draw_face_marker
from tests.bot.engine.helpers import box_mask, gradient_image, job_request, pixels, save

STEPS = 3
DIM = 512


def identity(count: int = 3, seed: int = 0) -> tuple[bytes, ...]:
    rng = np.random.default_rng(seed)
    return tuple(encode_identity(rng.normal(size=DIM)) for _ in range(count))


def character_of(ident: tuple[bytes, ...]) -> np.ndarray:
    rows = np.stack([np.frombuffer(b, "<f4") for b in ident])
    mean = rows.mean(axis=0)
    return mean / np.linalg.norm(mean)


def at_cosine(target: np.ndarray, cos: float, seed: int = 1) -> np.ndarray:
    """A unit vector whose cosine to `target` is exactly `cos`."""
    other = np.random.default_rng(seed).normal(size=target.size)
    other -= other.dot(target) * target
    other /= np.linalg.norm(other)
    return cos * target + np.sqrt(1 - cos**2) * other


def request(**kw: object) -> GenerationRequest:
    base: dict[str, object] = {"prompt": "the character on a beach", "steps": STEPS, "seed": 40}
    base.update(kw)
    return job_request(**base)


class ScriptedAnalyzer:
    """A FaceAnalyzer whose answers are chosen by the test: one entry per analyze() call, in order.

    An entry is a cosine to `character` (a face with that embedding) or None (no face). The last entry
    repeats once the script runs out.
    """

    backend = "insightface"
    dim = DIM

    def __init__(self, character: np.ndarray, script: list[float | None]) -> None:
        self.character, self.script, self.calls = character, script, 0

    def analyze(self, image: Image.Image) -> list[Face]:
        value = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if value is None:
            return []
        return [Face((4, 4, 40, 40), None, 0.9, at_cosine(self.character, value, seed=self.calls))]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return save(gradient_image(64, 64), tmp_path / "source.png")


@pytest.fixture(scope="module")
def engine_without_faceid(tiny_bundle: TinyBundle) -> Iterator[Engine]:
    config = load_settings(tiny_bundle.env_file).engine_config
    yield Engine.load(replace(config, faceid_adapter=None))


def scripted(engine: Engine, ident: tuple[bytes, ...], script: list[float | None]) -> Engine:
    """The shared weights with a scripted analyzer (a new Engine over the same pipelines)."""
    return Engine(engine.pipes, engine.model_name, ScriptedAnalyzer(character_of(ident), script))


# --- FaceID reaches the UNet ----------------------------------------------------------------------


def test_shared_engine_loads_both_adapters(engine: Engine) -> None:
    assert engine.pipes.ip_embed_dim is not None and engine.pipes.faceid_dim == DIM


def test_faceid_embeddings_change_the_output_in_text_mode(engine: Engine) -> None:
    ident = identity()
    off = engine.generate(request(identity=ident, identity_weight=0.0))
    on = engine.generate(request(identity=ident, identity_weight=1.0))
    again = engine.generate(request(identity=ident, identity_weight=1.0))
    assert not np.array_equal(pixels(off.candidates[0].png), pixels(on.candidates[0].png))
    assert on.candidates[0].png == again.candidates[0].png  # deterministic per seed
    plain = engine.generate(request())
    assert np.array_equal(pixels(plain.candidates[0].png), pixels(off.candidates[0].png))  # weight 0 = off
    fields = read_parameters(on.candidates[0].png)
    assert fields["Face lock"] == "FaceID" and fields["Identity weight"] == "1"
    assert fields["Identity mode"] == "all" and "Identity" not in fields  # no analyzer: unscored
    assert on.candidates[0].identity is None and on.tries == 1


def test_all_and_mean_modes_both_run_and_differ(engine: Engine) -> None:
    ident = identity(count=4)
    every = engine.generate(request(identity=ident, identity_mode="all", identity_weight=1.5, candidates=2))
    mean = engine.generate(request(identity=ident, identity_mode="mean", identity_weight=1.5, candidates=2))
    assert len(every.candidates) == len(mean.candidates) == 2
    assert not np.array_equal(pixels(every.candidates[0].png), pixels(mean.candidates[0].png))
    assert read_parameters(mean.candidates[0].png)["Identity mode"] == "mean"
    unguided = engine.generate(request(identity=ident, identity_mode="mean", cfg=1.0))
    assert unguided.candidates


@pytest.mark.parametrize("mode", [Mode.IMG2IMG, Mode.IMAGE_PROMPT, Mode.INPAINT, Mode.OUTPAINT])
def test_face_lock_works_in_every_mode(engine: Engine, source: Path, tmp_path: Path, mode: Mode) -> None:
    extra: dict[str, object] = {"mode": mode, "image": source}
    if mode is Mode.INPAINT:
        extra["mask"] = save(box_mask(64, 64, (16, 16, 48, 48)), tmp_path / "mask.png")
    if mode is Mode.OUTPAINT:
        extra["expand"] = "right"
    if mode.uses_strength:
        extra["strength"] = 1.0
    off = engine.generate(request(identity=identity(), identity_weight=0.0, **extra))
    on = engine.generate(request(identity=identity(), identity_weight=1.5, **extra))
    assert not np.array_equal(pixels(off.candidates[0].png), pixels(on.candidates[0].png))


# --- scoring and ordering ---------------------------------------------------------------------------


def test_candidates_are_scored_and_ordered_best_first(engine: Engine) -> None:
    ident = identity()
    scorer = scripted(engine, ident, [0.2, 0.9, None])
    result = scorer.generate(request(identity=ident, candidates=3, seed=10))
    assert [c.seed for c in result.candidates] == [11, 10, 12]
    scores = [c.identity for c in result.candidates]
    assert scores[0] == pytest.approx(0.9, abs=1e-4) and scores[1] == pytest.approx(0.2, abs=1e-4)
    assert scores[2] is None
    assert read_parameters(result.candidates[0].png)["Identity"] == "0.90"
    assert read_parameters(result.candidates[2].png)["Identity"] == "no face"
    assert any("no face found in candidate with seed 12" in w for w in result.warnings)
    assert result.tries == 1


def test_real_analyzer_finds_no_face_in_random_model_output(engine: Engine, tiny_bundle: TinyBundle) -> None:
    analyzer = load_face_analyzer("insightface", tiny_bundle.face_model_dir, 128)
    real = Engine(engine.pipes, engine.model_name, analyzer)
    result = real.generate(request(identity=identity(), candidates=2))
    assert [c.identity for c in result.candidates] == [None, None]
    assert sum("no face found in candidate" in w for w in result.warnings) == 2


@pytest.fixture(scope="module")
def real_scorer(engine: Engine, tiny_bundle: TinyBundle) -> Engine:
    """The shared weights with the tiny pack's real insightface analyzer (detector + recognizer)."""
    analyzer = load_face_analyzer("insightface", tiny_bundle.face_model_dir, 128)
    return Engine(engine.pipes, engine.model_name, analyzer)


def marked_source(scorer: Engine, tmp_path: Path) -> tuple[Path, tuple[bytes, ...]]:
    """A 64 px picture holding one synthetic face, and that face's embedding as a one-image character."""
    assert scorer.face_analyzer is not None
    image = draw_face_marker(gradient_image(64, 64), (10, 10, 54, 54), pattern_seed=1)
    [face] = scorer.face_analyzer.analyze(image)
    return save(image, tmp_path / "face.png"), (encode_identity(face.embedding),)


def test_real_analyzer_scores_a_kept_face_as_the_character(real_scorer: Engine, tmp_path: Path) -> None:
    """Inpainting away from the face keeps it bit-for-bit, so the real analyzer scores it as the character."""
    source, ident = marked_source(real_scorer, tmp_path)
    mask = save(box_mask(64, 64, (56, 56, 64, 64)), tmp_path / "corner.png")
    result = real_scorer.generate(
        request(mode=Mode.INPAINT, image=source, mask=mask, strength=1.0, identity=ident, candidates=2)
    )
    assert [c.identity for c in result.candidates] == [pytest.approx(1.0, abs=1e-3)] * 2
    assert read_parameters(result.candidates[0].png)["Identity"] == "1.00"


def test_real_analyzer_orders_repainted_faces_best_first(real_scorer: Engine, tmp_path: Path) -> None:
    """Repainting part of the face changes each candidate's likeness; the best comes first, retries stay
    bounded."""
    source, ident = marked_source(real_scorer, tmp_path)
    mask = save(box_mask(64, 64, (32, 32, 54, 54)), tmp_path / "part.png")
    base = {"mode": Mode.INPAINT, "image": source, "mask": mask, "strength": 1.0, "identity": ident}
    result = real_scorer.generate(request(candidates=4, seed=4, **base))
    scores = [c.identity for c in result.candidates]
    assert all(s is not None and s < 0.99 for s in scores)
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 4
    strict = real_scorer.generate(request(candidates=2, seed=4, min_identity=0.99, max_tries=2, **base))
    assert strict.tries == 2 and len(strict.candidates) == 2
    assert any("stayed below min_identity 0.99 after 2 tries" in w for w in strict.warnings)


def test_score_candidates_uses_the_largest_face(engine: Engine) -> None:
    character = character_of(identity())
    analyzer = ScriptedAnalyzer(character, [0.5, None])
    images = [Image.new("RGB", (64, 64))] * 2
    scores = score_candidates(analyzer, images, character)
    assert scores[0] == pytest.approx(0.5, abs=1e-4) and scores[1] is None


# --- min_identity retries -----------------------------------------------------------------------------


def test_retries_are_bounded_by_max_tries(engine: Engine) -> None:
    ident = identity()
    scorer = scripted(engine, ident, [0.1])
    result = scorer.generate(request(identity=ident, candidates=2, min_identity=0.99, max_tries=3, seed=100))
    assert result.tries == 3
    assert scorer.face_analyzer.calls == 6  # type: ignore[union-attr]  # 2 per try, never more
    assert len(result.candidates) == 2
    assert {c.seed for c in result.candidates} <= set(range(100, 106))
    assert any("stayed below min_identity 0.99 after 3 tries" in w for w in result.warnings)


def test_retry_regenerates_only_failing_candidates_with_fresh_seeds(engine: Engine) -> None:
    ident = identity()
    # Try 1: seeds 100 (0.8, passes) and 101 (0.3, fails); try 2 makes one more: seed 102 scores 0.7.
    scorer = scripted(engine, ident, [0.8, 0.3, 0.7])
    result = scorer.generate(request(identity=ident, candidates=2, min_identity=0.6, max_tries=5, seed=100))
    assert result.tries == 2 and scorer.face_analyzer.calls == 3  # type: ignore[union-attr]
    assert [c.seed for c in result.candidates] == [100, 102]
    assert not any("stayed below" in w for w in result.warnings)


def test_max_tries_one_never_regenerates(engine: Engine) -> None:
    ident = identity()
    scorer = scripted(engine, ident, [0.1])
    result = scorer.generate(request(identity=ident, min_identity=0.5, max_tries=1))
    assert result.tries == 1 and scorer.face_analyzer.calls == 1  # type: ignore[union-attr]


# --- without FaceID -------------------------------------------------------------------------------------


def test_fallback_uses_the_primary_image_as_image_prompt(engine_without_faceid: Engine, source: Path) -> None:
    assert engine_without_faceid.pipes.faceid_dim is None
    result = engine_without_faceid.generate(request(identity=identity(), identity_image=source))
    assert FALLBACK_WARNING in result.warnings
    assert read_parameters(result.candidates[0].png)["Face lock"] == "image prompt"
    off_req = request(identity=identity(), identity_image=source, identity_weight=0)
    off = engine_without_faceid.generate(off_req)
    assert not np.array_equal(pixels(off.candidates[0].png), pixels(result.candidates[0].png))


def test_identity_without_faceid_or_fallback_image_is_refused(engine_without_faceid: Engine) -> None:
    with pytest.raises(InvalidRequest, match="no IP-Adapter FaceID loaded"):
        engine_without_faceid.generate(request(identity=identity()))


def test_wrong_dimension_embeddings_fall_back_or_are_refused(engine: Engine, source: Path) -> None:
    dlib_like = tuple(encode_identity(v) for v in np.random.default_rng(3).normal(size=(2, 128)))
    with pytest.raises(InvalidRequest, match="128-d but FaceID needs 512-d"):
        engine.generate(request(identity=dlib_like))
    result = engine.generate(request(identity=dlib_like, identity_image=source))
    assert FALLBACK_WARNING in result.warnings


def test_faceid_alone_loads_without_plain_adapter(tiny_bundle: TinyBundle) -> None:
    config = load_settings(tiny_bundle.env_file).engine_config
    alone = Engine.load(replace(config, ip_adapter=None))
    assert alone.pipes.ip_embed_dim is None and alone.pipes.faceid_dim == DIM
    assert alone.generate(request(identity=identity())).candidates
    assert alone.generate(request()).candidates


def test_missing_faceid_weights_name_the_setting(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    config = load_settings(tiny_bundle.env_file).engine_config
    broken = replace(config, faceid_adapter=AdapterSource(str(tmp_path / "nowhere"), "", "faceid.bin"))
    with pytest.raises(ModelUnavailable, match="LIKENESS_FACEID_ADAPTER") as info:
        Engine.load(broken)
    assert "none" in str(info.value)


# --- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"identity_weight": 1.6}, "character_weight must be between 0 and 1.5"),
        ({"identity_weight": -0.1}, "character_weight must be between 0 and 1.5"),
        ({"min_identity": 1.2}, "min_identity must be between 0 and 1"),
        ({"min_identity": -0.5}, "min_identity must be between 0 and 1"),
        ({"max_tries": 0}, "max_tries must be between 1 and 10"),
        ({"max_tries": 11}, "max_tries must be between 1 and 10"),
        ({"max_tries": 2.5}, "max_tries must be a whole number"),
        ({"identity_mode": "median"}, "unknown identity mode 'median'"),
        ({"identity": (b"\x00\x01\x02",)}, "not a float32 vector"),
        ({"identity": (b"\x00" * 2048,)}, "zero or not finite"),
        ({"identity": (encode_identity(np.ones(512)), encode_identity(np.ones(128)))}, "differ in size"),
    ],
)
def test_bad_identity_parameters_raise_one_clear_error(
    engine: Engine, changes: dict[str, object], message: str
) -> None:
    req = request(**{"identity": identity(), **changes})
    with pytest.raises(InvalidRequest, match=message):
        engine.generate(req)


def test_min_identity_needs_a_character(engine: Engine) -> None:
    with pytest.raises(InvalidRequest, match="score faces against a character"):
        face_lock(None, min_identity=0.5)
    with pytest.raises(InvalidRequest, match="face lock needs the character's reference images"):
        engine.generate(request(min_identity=0.5))
