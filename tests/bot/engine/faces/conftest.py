"""Face fixtures: models load once and the slow analyses (dlib on t1.jpg) are shared."""

from __future__ import annotations

import pytest
from PIL import Image

from bot.engine.faces.dlib_backend import DlibAnalyzer
from bot.engine.faces.insightface_backend import InsightFaceAnalyzer
from bot.engine.faces.types import Face
from bot.tiny import TinyBundle
from bot.tiny.face_pack import DET_INPUT_SIZE
from tests.bot.engine.faces.photos import insightface_image, open_rgb


@pytest.fixture(scope="session")
def dlib_analyzer() -> DlibAnalyzer:
    return DlibAnalyzer()


@pytest.fixture(scope="session")
def tiny_analyzer(tiny_bundle: TinyBundle) -> InsightFaceAnalyzer:
    return InsightFaceAnalyzer(tiny_bundle.face_model_dir, det_size=DET_INPUT_SIZE)


@pytest.fixture(scope="session")
def t1() -> Image.Image:
    return open_rgb(insightface_image("t1.jpg"))


@pytest.fixture(scope="session")
def hanks() -> Image.Image:
    return open_rgb(insightface_image("Tom_Hanks_54745.png"))


@pytest.fixture(scope="session")
def t1_analysis(dlib_analyzer: DlibAnalyzer, t1: Image.Image) -> list[Face]:
    """dlib's analysis of t1.jpg as returned (largest first); about a second on 2 CPU cores."""
    return dlib_analyzer.analyze(t1)


@pytest.fixture(scope="session")
def t1_faces(t1_analysis: list[Face]) -> list[Face]:
    """t1's six faces, left to right (person 0 … person 5)."""
    return sorted(t1_analysis, key=lambda face: face.box[0])
