"""The face pack on first start and ``fetch-models``, against a local HTTP server that serves the
tiny pack as a zip, as insightface's model zoo serves buffalo_l."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import http.server
import logging
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app.services import Services
from bot.app.settings import Settings, load_settings
from bot.cli import main
from bot.engine import downloads
from bot.engine.downloads import DEFAULT_FACE_PACK_URL, FACE_PACK_SHA256, download_face_pack, has_face_pack
from bot.engine.faces.insightface_backend import InsightFaceAnalyzer
from bot.errors import ModelUnavailable, SettingsInvalid
from bot.tiny import TinyBundle


@pytest.fixture(scope="module")
def zoo_root(tiny_bundle: TinyBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tinypack.zip (files at the top) and nested.zip (one folder), as the zoo serves them."""
    root = tmp_path_factory.mktemp("zoo")
    models = sorted(tiny_bundle.face_model_dir.glob("*.onnx"))
    with zipfile.ZipFile(root / "tinypack.zip", "w") as flat:
        for onnx in models:
            flat.write(onnx, onnx.name)
    with zipfile.ZipFile(root / "nested.zip", "w") as nested:
        for onnx in models:
            nested.write(onnx, f"nested/{onnx.name}")
    return root


@pytest.fixture(scope="module")
def zoo(zoo_root: Path) -> Iterator[str]:
    """http://127.0.0.1:PORT/ serving ``zoo_root``."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(zoo_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def settings_for(bundle: TinyBundle, data: Path, pack: str, url: str, **more: object) -> Settings:
    return load_settings(
        bundle.env_file, data_dir=data, face_model_dir=data / "models" / pack, face_pack_url=url, **more
    )


async def start(settings: Settings) -> InsightFaceAnalyzer:
    services = await Services.open(settings)
    try:
        await services.load_models()
        analyzer = services.worker.face_analyzer
        assert isinstance(analyzer, InsightFaceAnalyzer)
        return analyzer
    finally:
        await services.close()


@pytest.mark.parametrize("pack", ["tinypack", "nested"])
def test_the_first_start_downloads_a_missing_pack(
    tiny_bundle: TinyBundle, tmp_path: Path, zoo: str, pack: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    with caplog.at_level(logging.WARNING):
        analyzer = asyncio.run(start(settings_for(tiny_bundle, data, pack, zoo)))
    folder = data / "models" / pack
    assert analyzer.dim == 512 and sorted(p.name for p in folder.iterdir()) == [
        "det_tiny.onnx",
        "rec_tiny.onnx",
    ]
    assert sorted(p.name for p in (data / "models").iterdir()) == [pack]  # nothing left over
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"downloading the insightface face pack {pack} from {zoo}" in said and "licence" in said
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        asyncio.run(start(settings_for(tiny_bundle, data, pack, zoo)))  # the second start downloads nothing
    assert "downloading" not in " ".join(r.getMessage() for r in caplog.records)


def test_offline_nothing_is_downloaded_and_the_message_says_where(
    tiny_bundle: TinyBundle, tmp_path: Path, zoo: str
) -> None:
    data = tmp_path / "data"
    with pytest.raises(ModelUnavailable, match="tinypack"):
        asyncio.run(start(settings_for(tiny_bundle, data, "tinypack", zoo, offline=True)))
    assert not (data / "models" / "tinypack").exists()


def test_a_failed_download_leaves_nothing_half_there(
    tiny_bundle: TinyBundle, tmp_path: Path, zoo: str
) -> None:
    data = tmp_path / "data"
    with pytest.raises(
        ModelUnavailable, match=r"could not download the face pack missing from .*LIKENESS_FACE_PACK_URL"
    ):
        asyncio.run(start(settings_for(tiny_bundle, data, "missing", zoo)))
    assert list((data / "models").iterdir()) == []


def test_fetch_models_warms_the_machine_and_says_where(
    tiny_bundle: TinyBundle,
    tmp_path: Path,
    zoo: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(data))
    monkeypatch.setenv("LIKENESS_FACE_MODEL_DIR", str(data / "models" / "tinypack"))
    monkeypatch.setenv("LIKENESS_FACE_PACK_URL", zoo)
    monkeypatch.setenv("LIKENESS_INPAINT_MODEL", str(tiny_bundle.inpaint_model))
    monkeypatch.setenv("LIKENESS_VAE", str(tiny_bundle.vae))
    env = ["--env-file", str(tiny_bundle.env_file)]
    assert main([*env, "fetch-models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"diffusion model: {tiny_bundle.sd} (local)",
        f"IP-Adapter: {tiny_bundle.ip_adapter} (local)",
        f"IP-Adapter FaceID: {tiny_bundle.faceid_adapter} (local)",
        f"acceleration LoRA (fast and turbo): {tiny_bundle.root / 'lcm-lora-sdv1-5'} (local)",
        f"VAE: {tiny_bundle.vae} (local)",
        f"inpainting model: {tiny_bundle.inpaint_model} (local)",
        f"canny ControlNet: {tiny_bundle.root / 'controlnet-canny'} (local)",
        f"depth ControlNet: {tiny_bundle.root / 'controlnet-depth'} (local)",
        f"depth model: {tiny_bundle.root / 'depth'} (local)",
        f"caption model: {tiny_bundle.root / 'florence-2'} (local)",
        f"NSFW classifier: {tiny_bundle.nsfw_model} (local)",
        f"upscaler: {tiny_bundle.upscaler} (local)",
        f"face pack: {data / 'models' / 'tinypack'} (downloaded)",
    ]
    assert main([*env, "fetch-models"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1]
        == f"face pack: {data / 'models' / 'tinypack'} (already here)"
    )
    # "auto" is the family's common ControlNet, fetched from the hub (recorded here, not downloaded)
    asked: list[str] = []

    def snapshot(repo: str, allow_patterns: list[str]) -> str:
        asked.append(repo)
        return str(tmp_path / "hub" / repo)

    def hub_file(repo: str, filename: str, local_files_only: bool = False) -> str:
        asked.append(f"{repo}/{filename}")
        return str(tmp_path / "hub" / repo / filename)

    monkeypatch.setattr("huggingface_hub.snapshot_download", snapshot)
    monkeypatch.setattr("huggingface_hub.hf_hub_download", hub_file)
    monkeypatch.setenv("LIKENESS_UPSCALER", "ai-forever/Real-ESRGAN/RealESRGAN_x4.pth")  # the default
    monkeypatch.setenv("LIKENESS_SPEED_SD15", "lcm")  # the default: one LoRA for fast and turbo
    monkeypatch.setenv("LIKENESS_CONTROLNET_CANNY", "auto")
    monkeypatch.setenv("LIKENESS_CONTROLNET_DEPTH", "none")
    monkeypatch.setenv("LIKENESS_NSFW_MODEL", "Falconsai/nsfw_image_detection")  # the default
    assert main([*env, "fetch-models"]) == 0
    assert asked == [
        "latent-consistency/lcm-lora-sdv1-5/pytorch_lora_weights.safetensors",
        "lllyasviel/control_v11p_sd15_canny",
        "Falconsai/nsfw_image_detection",
        "ai-forever/Real-ESRGAN/RealESRGAN_x4.pth",
    ]
    assert "depth model" not in capsys.readouterr().out  # no depth ControlNet: no depth model either
    monkeypatch.setenv("LIKENESS_OFFLINE", "1")
    assert main([*env, "fetch-models"]) == 2
    assert "LIKENESS_OFFLINE=1 forbids downloads" in capsys.readouterr().err


# -- pinned sha256 ----------------------------------------------------------------------------------


def served_sha256(zoo_root: Path, name: str) -> str:
    return hashlib.sha256((zoo_root / f"{name}.zip").read_bytes()).hexdigest()


def leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def test_the_known_packs_are_pinned_for_both_release_tags() -> None:
    for release in (
        DEFAULT_FACE_PACK_URL,
        "https://github.com/deepinsight/insightface/releases/download/v0.7/",
    ):
        assert FACE_PACK_SHA256[f"{release}buffalo_l.zip"] == (
            "80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f"
        )
        assert FACE_PACK_SHA256[f"{release}antelopev2.zip"] == (
            "8e182f14fc6e80b3bfa375b33eb6cff7ee05d8ef7633e738d1c89021dcf0c5c5"
        )


def test_a_zip_that_matches_its_pin_is_unpacked(
    tmp_path: Path,
    zoo: str,
    zoo_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    digest = served_sha256(zoo_root, "nested")
    monkeypatch.setitem(FACE_PACK_SHA256, f"{zoo}nested.zip", digest)
    folder = tmp_path / "models" / "nested"
    with caplog.at_level(logging.INFO, logger="bot.engine.downloads"):
        assert download_face_pack(folder, zoo) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["det_tiny.onnx", "rec_tiny.onnx"]
    assert leftovers(tmp_path / "models") == ["nested"]
    assert f"face pack nested.zip matches its pinned sha256 {digest}" in caplog.text


@pytest.mark.parametrize("pinned_by", ["table", "operator"])
def test_a_zip_that_does_not_match_is_never_opened_and_leaves_nothing(
    tmp_path: Path, zoo: str, zoo_root: Path, monkeypatch: pytest.MonkeyPatch, pinned_by: str
) -> None:
    wrong = "ab" * 32
    operator_pin = wrong if pinned_by == "operator" else None
    if pinned_by == "table":
        monkeypatch.setitem(FACE_PACK_SHA256, f"{zoo}tinypack.zip", wrong)
    else:  # the operator's pin wins over the table's
        monkeypatch.setitem(FACE_PACK_SHA256, f"{zoo}tinypack.zip", served_sha256(zoo_root, "tinypack"))
    opened: list[object] = []
    monkeypatch.setattr(downloads.zipfile, "ZipFile", lambda *a, **k: opened.append(a))
    folder = tmp_path / "models" / "tinypack"
    with pytest.raises(ModelUnavailable) as raised:
        download_face_pack(folder, zoo, operator_pin)
    assert str(raised.value).startswith(
        f"the face pack tinypack.zip from {zoo}tinypack.zip is not the file pinned for it "
        f"(sha256 {served_sha256(zoo_root, 'tinypack')}, expected {wrong}); nothing was unpacked"
    )
    assert opened == []
    assert leftovers(tmp_path / "models") == []  # no pack, no staging folder, no zip


def test_the_operators_pin_is_checked_at_start_up(tiny_bundle: TinyBundle, tmp_path: Path, zoo: str) -> None:
    data = tmp_path / "data"
    settings = settings_for(tiny_bundle, data, "tinypack", zoo, face_pack_sha256="CD" * 32)
    assert settings.face_pack_sha256 == "cd" * 32
    with pytest.raises(ModelUnavailable, match=rf"tinypack\.zip .* expected {'cd' * 32}\)"):
        asyncio.run(start(settings))
    assert leftovers(data / "models") == []


def test_a_zip_with_no_pin_is_used_and_its_hash_logged(
    tmp_path: Path, zoo: str, zoo_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "models" / "tinypack"
    with caplog.at_level(logging.WARNING, logger="bot.engine.downloads"):
        download_face_pack(folder, zoo)
    assert has_face_pack(folder)
    assert f"no sha256 is pinned for it; its sha256 is {served_sha256(zoo_root, 'tinypack')}" in caplog.text


@pytest.mark.parametrize("value", ["abc", "g" * 64, "a" * 63])
def test_a_pin_that_is_not_a_sha256_is_refused(tiny_bundle: TinyBundle, tmp_path: Path, value: str) -> None:
    with pytest.raises(SettingsInvalid, match="LIKENESS_FACE_PACK_SHA256"):
        load_settings(tiny_bundle.env_file, data_dir=tmp_path, face_pack_sha256=value)
