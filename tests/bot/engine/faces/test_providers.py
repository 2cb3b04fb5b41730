"""insightface runs on CUDA when the bot's device allows it and onnxruntime has CUDA, else on the CPU;
the bot and ``recompute-faces`` both load it that way."""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path

import onnxruntime
import pytest

from bot.app.services import Services
from bot.app.settings import Settings, load_settings
from bot.cli import main
from bot.engine.faces.insightface_backend import InsightFaceAnalyzer, providers_for
from bot.engine.faces.types import FaceAnalyzer
from bot.running.worker import GpuWorker
from bot.tiny import TinyBundle

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
# What a GPU build of onnxruntime reports; the one installed here is CPU-only.
GPU_BUILD = [CUDA, CPU]
CPU_BUILD = ["AzureExecutionProvider", CPU]


@pytest.mark.parametrize(
    ("device", "available", "expected"),
    [
        ("auto", GPU_BUILD, (CUDA, CPU)),
        ("cuda", GPU_BUILD, (CUDA, CPU)),
        ("cpu", GPU_BUILD, (CPU,)),
        ("mps", GPU_BUILD, (CPU,)),
        ("auto", CPU_BUILD, (CPU,)),
        ("cuda", CPU_BUILD, (CPU,)),
    ],
)
def test_providers_follow_the_device_and_the_onnxruntime_build(
    monkeypatch: pytest.MonkeyPatch, device: str, available: list[str], expected: tuple[str, ...]
) -> None:
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(available))
    assert providers_for(device) == expected


def test_cuda_asked_for_but_missing_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(CPU_BUILD))
    with caplog.at_level(logging.WARNING):
        providers_for("cuda")
    assert [r.getMessage() for r in caplog.records] == [
        "LIKENESS_DEVICE is cuda but onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu); "
        "face analysis runs on the CPU"
    ]


def _settings(bundle: TinyBundle, data: Path, device: str) -> Settings:
    return load_settings(bundle.env_file, data_dir=data, device=device, discord_token="fake-bot-token")


async def _bot_analyzer(bundle: TinyBundle, data: Path, device: str) -> InsightFaceAnalyzer:
    services = await Services.open(_settings(bundle, data, device))
    try:
        analyzer = await services.worker.load_faces()
        assert isinstance(analyzer, InsightFaceAnalyzer)
        return analyzer
    finally:
        await services.close()


def test_the_bot_loads_insightface_on_cuda_when_it_can(
    tiny_bundle: TinyBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(GPU_BUILD))
    # The real sessions get CUDA first: this onnxruntime lacks it and says so, then runs on the CPU.
    with pytest.warns(UserWarning, match="Specified provider 'CUDAExecutionProvider'"):
        on_gpu = asyncio.run(_bot_analyzer(tiny_bundle, tmp_path / "gpu", "cuda"))
    assert on_gpu.providers == (CUDA, CPU)
    on_cpu = asyncio.run(_bot_analyzer(tiny_bundle, tmp_path / "cpu", "cpu"))
    assert on_cpu.providers == (CPU,)


@pytest.mark.parametrize(("device", "expected"), [("cuda", (CUDA, CPU)), ("cpu", (CPU,))])
def test_recompute_faces_loads_insightface_the_same_way(
    tiny_bundle: TinyBundle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    device: str,
    expected: tuple[str, ...],
) -> None:
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(GPU_BUILD))
    loaded: list[tuple[str, ...]] = []
    original = GpuWorker.load_faces

    async def recording(self: GpuWorker) -> FaceAnalyzer:
        analyzer = await original(self)
        loaded.append(analyzer.providers)  # type: ignore[attr-defined]
        return analyzer

    monkeypatch.setattr(GpuWorker, "load_faces", recording)
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIKENESS_DEVICE", device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Specified provider 'CUDAExecutionProvider'", UserWarning)
        assert main(["--env-file", str(tiny_bundle.env_file), "recompute-faces"]) == 0
    assert "recomputed 0 image(s)" in capsys.readouterr().out
    assert loaded == [expected]
