"""The tiny bundle must load and run through the real diffusers and insightface loaders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import insightface
import insightface.utils.storage
import numpy as np
import pytest
import torch
from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, StableDiffusionPipeline
from diffusers.utils import logging as diffusers_logging
from insightface.app import FaceAnalysis
from PIL import Image

from bot.tiny import TinyBundle, build_tiny_bundle, draw_face_marker
from bot.tiny.face_pack import DET_INPUT_SIZE, EMBED_DIM, FACE_MIN_SIDE

SIZE = 64
STEPS = 2
PROMPT = "a portrait photo"
EXPECTED_KEYS = {
    "LIKENESS_MODEL",
    "LIKENESS_IP_ADAPTER",
    "LIKENESS_IP_ADAPTER_SUBFOLDER",
    "LIKENESS_IP_ADAPTER_WEIGHT",
    "LIKENESS_FACEID_ADAPTER",
    "LIKENESS_FACEID_SUBFOLDER",
    "LIKENESS_FACEID_WEIGHT",
    "LIKENESS_FACE_BACKEND",
    "LIKENESS_FACE_MODEL_DIR",
    "LIKENESS_FACE_DET_SIZE",
    "LIKENESS_DEVICE",
    "LIKENESS_LORA_DIR",
    "LIKENESS_EMBEDDING_DIR",
    "LIKENESS_CONTROLNET_CANNY",
    "LIKENESS_CONTROLNET_DEPTH",
    "LIKENESS_DEPTH_MODEL",
    "LIKENESS_CAPTION_MODEL",
    "LIKENESS_NSFW_MODEL",
    "LIKENESS_UPSCALER",
    "LIKENESS_SPEED_SD15",  # fast and turbo: the tiny LCM-LoRA and SDXL-Lightning LoRAs (JSON)
    "LIKENESS_SPEED_SDXL",
}

diffusers_logging.disable_progress_bar()


def _load(bundle: TinyBundle) -> StableDiffusionPipeline:
    pipe = StableDiffusionPipeline.from_pretrained(bundle.sd)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _generate(pipe: StableDiffusionPipeline, **kwargs: object) -> np.ndarray:
    result = pipe(
        PROMPT,
        num_inference_steps=STEPS,
        height=SIZE,
        width=SIZE,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
        **kwargs,
    )
    return np.asarray(result.images)


def _bgr(image: Image.Image) -> np.ndarray:
    """insightface takes OpenCV-style BGR arrays."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def _grey(size: int = DET_INPUT_SIZE) -> Image.Image:
    return Image.new("RGB", (size, size), (128, 128, 128))


def _noise(size: int = DET_INPUT_SIZE, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def _parse_env(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return dict(line.split("=", 1) for line in lines)


# --- bundle and settings -------------------------------------------------------------------------


def test_env_file_lists_every_setting_with_existing_paths(tiny_bundle: TinyBundle) -> None:
    env = _parse_env(tiny_bundle.env_file)
    assert set(env) == EXPECTED_KEYS
    assert env == tiny_bundle.settings
    for key in (
        "LIKENESS_MODEL",
        "LIKENESS_IP_ADAPTER",
        "LIKENESS_FACEID_ADAPTER",
        "LIKENESS_FACE_MODEL_DIR",
        "LIKENESS_LORA_DIR",
        "LIKENESS_EMBEDDING_DIR",
        "LIKENESS_CONTROLNET_CANNY",
        "LIKENESS_CONTROLNET_DEPTH",
        "LIKENESS_DEPTH_MODEL",
        "LIKENESS_CAPTION_MODEL",
        "LIKENESS_NSFW_MODEL",
    ):
        assert Path(env[key]).is_absolute(), key
        assert Path(env[key]).is_dir(), key
    for key in ("LIKENESS_SPEED_SD15", "LIKENESS_SPEED_SDXL"):
        for speed in json.loads(env[key]).values():
            assert Path(speed["lora"], speed["weight_name"]).is_file(), key
    assert env["LIKENESS_FACEID_SUBFOLDER"] == ""
    assert Path(env["LIKENESS_UPSCALER"]) == tiny_bundle.upscaler and tiny_bundle.upscaler.is_file()
    ip_file = Path(
        env["LIKENESS_IP_ADAPTER"], env["LIKENESS_IP_ADAPTER_SUBFOLDER"], env["LIKENESS_IP_ADAPTER_WEIGHT"]
    )
    faceid_file = Path(
        env["LIKENESS_FACEID_ADAPTER"], env["LIKENESS_FACEID_SUBFOLDER"], env["LIKENESS_FACEID_WEIGHT"]
    )
    assert ip_file == tiny_bundle.ip_adapter_weight_file and ip_file.is_file()
    assert faceid_file == tiny_bundle.faceid_weight_file and faceid_file.is_file()
    assert (tiny_bundle.image_encoder / "config.json").is_file()
    assert sorted(p.name for p in Path(env["LIKENESS_LORA_DIR"]).iterdir()) == [
        "glow.safetensors",
        "ink.safetensors",
    ]
    assert sorted(p.name for p in Path(env["LIKENESS_EMBEDDING_DIR"]).iterdir()) == [
        "tinynoop.safetensors",
        "tinystyle.pt",
    ]
    assert sorted(p.name for p in Path(env["LIKENESS_FACE_MODEL_DIR"]).glob("*.onnx")) == [
        "det_tiny.onnx",
        "rec_tiny.onnx",
    ]
    assert env["LIKENESS_FACE_BACKEND"] == "insightface"
    assert env["LIKENESS_FACE_DET_SIZE"] == str(DET_INPUT_SIZE)
    assert env["LIKENESS_DEVICE"] == "cpu"


def test_rebuild_replaces_in_place_and_is_deterministic(tmp_path: Path, tiny_bundle: TinyBundle) -> None:
    target = tmp_path / "bundle"
    steps: list[str] = []
    build_tiny_bundle(target, progress=steps.append)
    (target / "stale.txt").write_text("from the previous build", encoding="utf-8")
    rebuilt = build_tiny_bundle(target)
    assert steps, "progress callback was never called"
    assert not (target / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"], "temp folders left beside the bundle"
    for relative in (
        Path("sd/unet/diffusion_pytorch_model.safetensors"),
        rebuilt.ip_adapter_weight_file.relative_to(rebuilt.root),
        rebuilt.faceid_weight_file.relative_to(rebuilt.root),
        Path("faces/tiny/det_tiny.onnx"),
        Path("faces/tiny/rec_tiny.onnx"),
    ):
        assert (target / relative).read_bytes() == (tiny_bundle.root / relative).read_bytes(), relative


# --- Stable Diffusion ----------------------------------------------------------------------------


def test_pipeline_generates_native_size_and_siblings_share_modules(tiny_bundle: TinyBundle) -> None:
    pipe = _load(tiny_bundle)
    image = pipe(PROMPT, num_inference_steps=STEPS, height=SIZE, width=SIZE).images[0]
    assert image.size == (SIZE, SIZE)
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == tiny_bundle.native_resolution == SIZE

    i2i = AutoPipelineForImage2Image.from_pipe(pipe)
    inpaint = AutoPipelineForInpainting.from_pipe(pipe)
    for sibling in (i2i, inpaint):
        assert sibling.unet is pipe.unet
        assert sibling.vae is pipe.vae
        assert sibling.text_encoder is pipe.text_encoder
    assert type(i2i).__name__ == "StableDiffusionImg2ImgPipeline"
    assert type(inpaint).__name__ == "StableDiffusionInpaintPipeline"


def test_plain_ip_adapter_loads_and_steers_output(tiny_bundle: TinyBundle) -> None:
    pipe = _load(tiny_bundle)
    pipe.load_ip_adapter(
        str(tiny_bundle.ip_adapter),
        subfolder=tiny_bundle.settings["LIKENESS_IP_ADAPTER_SUBFOLDER"],
        weight_name=tiny_bundle.settings["LIKENESS_IP_ADAPTER_WEIGHT"],
    )
    assert pipe.image_encoder is not None and pipe.feature_extractor is not None
    reference = Image.new("RGB", (SIZE, SIZE), (200, 40, 30))
    pipe.set_ip_adapter_scale(0.0)
    without = _generate(pipe, ip_adapter_image=reference)
    pipe.set_ip_adapter_scale(1.0)
    with_ref = _generate(pipe, ip_adapter_image=reference)
    assert without.shape == (1, SIZE, SIZE, 3)
    assert np.abs(with_ref - without).max() > 1e-3


def _face_embeds(seed: int = 0) -> torch.Tensor:
    """(2, 1, 512): unconditional zeros then one normalised identity, as FaceID expects."""
    emb = torch.nn.functional.normalize(
        torch.randn(1, 1, EMBED_DIM, generator=torch.Generator().manual_seed(seed)), dim=-1
    )
    return torch.cat([torch.zeros_like(emb), emb])


def test_faceid_adapter_loads_without_image_encoder_and_steers_output(tiny_bundle: TinyBundle) -> None:
    pipe = _load(tiny_bundle)
    pipe.load_ip_adapter(
        str(tiny_bundle.faceid_adapter),
        subfolder=tiny_bundle.settings["LIKENESS_FACEID_SUBFOLDER"],
        weight_name=tiny_bundle.settings["LIKENESS_FACEID_WEIGHT"],
        image_encoder_folder=None,
    )
    assert pipe.image_encoder is None
    embeds = [_face_embeds()]
    pipe.set_ip_adapter_scale(0.0)
    without = _generate(pipe, ip_adapter_image_embeds=embeds)
    pipe.set_ip_adapter_scale(1.0)
    with_face = _generate(pipe, ip_adapter_image_embeds=embeds)
    assert np.abs(with_face - without).max() > 1e-3


def test_both_adapters_load_in_one_call_and_take_embeds(tiny_bundle: TinyBundle) -> None:
    # Separate load_ip_adapter calls replace each other; both must be passed as lists, plain first so
    # the CLIP encoder is read from its subfolder, and FaceID forces embeds for *all* adapters.
    settings = tiny_bundle.settings
    pipe = _load(tiny_bundle)
    pipe.load_ip_adapter(
        [settings["LIKENESS_IP_ADAPTER"], settings["LIKENESS_FACEID_ADAPTER"]],
        subfolder=[settings["LIKENESS_IP_ADAPTER_SUBFOLDER"], settings["LIKENESS_FACEID_SUBFOLDER"]],
        weight_name=[settings["LIKENESS_IP_ADAPTER_WEIGHT"], settings["LIKENESS_FACEID_WEIGHT"]],
    )
    reference = Image.new("RGB", (SIZE, SIZE), (30, 90, 200))
    cond, uncond = pipe.encode_image(reference, "cpu", 1)
    plain = torch.cat([uncond, cond]).unsqueeze(1)
    embeds = [plain, _face_embeds()]
    pipe.set_ip_adapter_scale([1.0, 0.0])
    plain_only = _generate(pipe, ip_adapter_image_embeds=embeds)
    pipe.set_ip_adapter_scale([1.0, 1.0])
    both = _generate(pipe, ip_adapter_image_embeds=embeds)
    assert np.abs(both - plain_only).max() > 1e-3


# --- insightface face pack -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def face_app(tiny_bundle: TinyBundle) -> Iterator[FaceAnalysis]:
    """FaceAnalysis on the pack's folder, with insightface's downloader made to fail loudly.

    FaceAnalysis uses `name` as a folder only if that path is an existing directory (relative paths
    resolve against the CWD); any other name is fetched from GitHub into `<root>/models/<name>`.
    """

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"insightface tried to download: {args!r}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(insightface.utils.storage, "download_file", no_download)
        app = FaceAnalysis(
            name=str(tiny_bundle.face_model_dir),
            providers=["CPUExecutionProvider"],
            allowed_modules=["detection", "recognition"],
        )
        app.prepare(ctx_id=-1, det_size=(DET_INPUT_SIZE, DET_INPUT_SIZE))
        assert Path(app.model_dir) == tiny_bundle.face_model_dir
        assert set(app.models) == {"detection", "recognition"}
        yield app


def test_no_marker_means_no_face(face_app: FaceAnalysis) -> None:
    photo = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    tiny_marker = draw_face_marker(_grey(), (40, 40, 40 + FACE_MIN_SIDE - 6, 40 + FACE_MIN_SIDE - 6))
    for image in (_grey(), _noise(), Image.open(photo), tiny_marker):
        assert face_app.get(_bgr(image)) == []


def test_one_marker_is_one_face_with_keypoints_and_embedding(face_app: FaceAnalysis) -> None:
    box = (30, 40, 78, 88)
    image = draw_face_marker(_noise(seed=3), box, pattern_seed=1)
    faces = face_app.get(_bgr(image))
    assert len(faces) == 1
    face = faces[0]
    x0, y0, x1, y1 = face.bbox
    assert np.allclose(face.bbox, box, atol=2.0)
    assert face.det_score > 0.5
    assert face.kps.shape == (5, 2)
    assert np.all(
        (face.kps[:, 0] > x0) & (face.kps[:, 0] < x1) & (face.kps[:, 1] > y0) & (face.kps[:, 1] < y1)
    )
    left_eye, right_eye, nose, mouth_left, mouth_right = face.kps
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    assert face.normed_embedding.shape == (EMBED_DIM,)
    assert np.isclose(np.linalg.norm(face.normed_embedding), 1.0, atol=1e-5)


def test_two_markers_are_two_faces(face_app: FaceAnalysis) -> None:
    boxes = [(8, 10, 48, 50), (70, 60, 118, 108)]
    image = _grey()
    for seed, box in enumerate(boxes):
        draw_face_marker(image, box, pattern_seed=seed)
    faces = sorted(face_app.get(_bgr(image)), key=lambda face: face.bbox[0])
    assert len(faces) == 2
    for face, box in zip(faces, boxes, strict=True):
        assert np.allclose(face.bbox, box, atol=2.0)


def test_markers_scale_with_the_picture(face_app: FaceAnalysis) -> None:
    # A 512 px picture is letterboxed to 128 px; a 160 px marker becomes 40 px there.
    image = Image.new("RGB", (512, 384), (90, 120, 60))
    draw_face_marker(image, (100, 100, 260, 260), pattern_seed=4)
    faces = face_app.get(_bgr(image))
    assert len(faces) == 1
    assert np.allclose(faces[0].bbox, (100, 100, 260, 260), atol=6.0)


def test_embeddings_are_deterministic_and_identity_dependent(face_app: FaceAnalysis) -> None:
    box = (30, 30, 78, 78)

    def embedding(background: Image.Image, face_box: tuple[int, int, int, int], seed: int) -> np.ndarray:
        faces = face_app.get(_bgr(draw_face_marker(background, face_box, pattern_seed=seed)))
        assert len(faces) == 1
        return faces[0].normed_embedding

    first = embedding(_grey(), box, seed=1)
    again = embedding(_grey(), box, seed=1)
    other_person = embedding(_grey(), box, seed=2)
    same_person_elsewhere = embedding(_noise(seed=5), (50, 60, 98, 108), seed=1)
    assert np.array_equal(first, again)
    assert float(first @ other_person) < 0.6
    assert float(first @ same_person_elsewhere) > 0.9
