"""Build the whole tiny model bundle atomically and describe it as LIKENESS_* settings."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bot.engine.family import Family
from bot.tiny import (
    controlnets,
    embeddings,
    face_pack,
    full,
    ip_adapter,
    loras,
    nsfw,
    sd,
    sdxl,
    single_file,
    speed_loras,
    upscaler,
    vision,
)

logger = logging.getLogger(__name__)

ENV_FILE = "tiny.env"
SD_DIR = "sd"
IP_ADAPTER_DIR = "ip-adapter"
FACEID_DIR = "ip-adapter-faceid"
FACE_PACK_DIR = Path("faces") / "tiny"
LORA_DIR = "loras"
EMBEDDING_DIR = "embeddings"  # textual inversions in A1111's layouts (bot.tiny.embeddings)
SINGLE_FILE = "single-file.safetensors"
DEPTH_DIR = "depth"  # a tiny Depth Anything V2 (transformers), for structure depth
CAPTION_DIR = "florence-2"  # a tiny Florence-2 with its processor, for /describe
UPSCALER_DIR = "upscaler"  # a tiny RRDBNet in Real-ESRGAN's file layout (bot.tiny.upscaler)
NSFW_DIR = "nsfw"  # a tiny ViT NSFW classifier whose score follows brightness (bot.tiny.nsfw)
INPAINT_DIR = "sd-inpaint"  # a dedicated inpainting model's UNet (9 input channels), not in tiny.env
VAE_DIR = "vae"  # another VAE of the model's architecture, for LIKENESS_VAE (tests set it)
VAE_FILE = "vae.safetensors"  # the same VAE as one file in the LDM layout
OTHER_DIR = "other-family"  # a tiny model of the other family, the second of LIKENESS_MODELS
MODELS_ENV = "models.env"  # tiny.env, with LIKENESS_MODELS naming both families' models
MODEL_NAMES = {Family.SD15: "tiny-sd15", Family.SDXL: "tiny-sdxl"}
# Named here: inside TinyBundle, ``sd`` would be its own field, not the module.
SD_NATIVE_RESOLUTION = sd.NATIVE_RESOLUTION


@dataclass(frozen=True)
class TinyBundle:
    """Where the pieces of a built bundle live, plus the settings that point the bot at them."""

    root: Path
    sd: Path
    ip_adapter: Path
    ip_adapter_weight_file: Path
    image_encoder: Path
    faceid_adapter: Path
    faceid_weight_file: Path
    face_model_dir: Path
    env_file: Path
    lora_dir: Path
    embedding_dir: Path
    nsfw_model: Path  # the tiny NSFW classifier (white scores ~0.99, black ~0.01)
    upscaler: Path  # the tiny 4× super-resolution model, one .pth file
    single_file: Path  # the same weights as one checkpoint in the original (LDM/SGM) key layout
    inpaint_model: Path  # an inpainting model for LIKENESS_INPAINT_MODEL (tests set it; tiny.env does not)
    vae: Path  # another VAE, a diffusers folder, for LIKENESS_VAE (tests set it; tiny.env does not)
    vae_file: Path  # the same VAE as one LDM-layout file
    other_model: Path  # a tiny model of the other family (its adapters and ControlNets are not built)
    models_env: Path  # the settings with both models named (LIKENESS_MODELS), this family's the default
    family: Family = Family.SD15
    native_resolution: int = SD_NATIVE_RESOLUTION
    settings: dict[str, str] = field(default_factory=dict)


def _layout(root: Path, family: Family = Family.SD15) -> TinyBundle:
    """Paths of a bundle rooted at `root` (absolute), with the settings that describe them."""
    ip_dir = root / IP_ADAPTER_DIR
    faceid_dir = root / FACEID_DIR
    faces = root / FACE_PACK_DIR
    settings = {
        "LIKENESS_MODEL": str(root / SD_DIR),
        "LIKENESS_IP_ADAPTER": str(ip_dir),
        "LIKENESS_IP_ADAPTER_SUBFOLDER": ip_adapter.IP_ADAPTER_SUBFOLDER,
        "LIKENESS_IP_ADAPTER_WEIGHT": ip_adapter.IP_ADAPTER_WEIGHT,
        "LIKENESS_FACEID_ADAPTER": str(faceid_dir),
        # Empty: the file is at the folder root; diffusers joins "" harmlessly.
        "LIKENESS_FACEID_SUBFOLDER": "",
        "LIKENESS_FACEID_WEIGHT": ip_adapter.FACEID_WEIGHT,
        "LIKENESS_FACE_BACKEND": "insightface",
        "LIKENESS_FACE_MODEL_DIR": str(faces),
        "LIKENESS_FACE_DET_SIZE": str(face_pack.DET_INPUT_SIZE),
        "LIKENESS_LORA_DIR": str(root / LORA_DIR),
        "LIKENESS_EMBEDDING_DIR": str(root / EMBEDDING_DIR),
        "LIKENESS_CONTROLNET_CANNY": str(root / "controlnet-canny"),
        "LIKENESS_CONTROLNET_DEPTH": str(root / "controlnet-depth"),
        "LIKENESS_DEPTH_MODEL": str(root / DEPTH_DIR),
        "LIKENESS_CAPTION_MODEL": str(root / CAPTION_DIR),
        "LIKENESS_NSFW_MODEL": str(root / NSFW_DIR),
        "LIKENESS_UPSCALER": str(root / UPSCALER_DIR / upscaler.FILE),
        "LIKENESS_DEVICE": "cpu",
        **speed_loras.speed_settings(root),  # fast and turbo: the tiny LCM-LoRA and SDXL-Lightning LoRAs
    }
    return TinyBundle(
        root=root,
        sd=root / SD_DIR,
        ip_adapter=ip_dir,
        ip_adapter_weight_file=ip_dir / ip_adapter.IP_ADAPTER_SUBFOLDER / ip_adapter.IP_ADAPTER_WEIGHT,
        image_encoder=ip_dir / ip_adapter.IP_ADAPTER_SUBFOLDER / ip_adapter.IMAGE_ENCODER_FOLDER,
        faceid_adapter=faceid_dir,
        faceid_weight_file=faceid_dir / ip_adapter.FACEID_WEIGHT,
        face_model_dir=faces,
        env_file=root / ENV_FILE,
        lora_dir=root / LORA_DIR,
        embedding_dir=root / EMBEDDING_DIR,
        nsfw_model=root / NSFW_DIR,
        upscaler=root / UPSCALER_DIR / upscaler.FILE,
        single_file=root / SINGLE_FILE,
        inpaint_model=root / INPAINT_DIR,
        vae=root / VAE_DIR,
        vae_file=root / VAE_FILE,
        other_model=root / OTHER_DIR,
        models_env=root / MODELS_ENV,
        family=family,
        settings=settings,
    )


def models_settings(bundle: TinyBundle) -> dict[str, str]:
    """``bundle``'s settings with its two models named: its own family's, the default, and the
    other family's, whose adapters and ControlNets (this bundle's are of the first family) are off
    and whose clip skip defaults to 2 (a model's own default, as anime checkpoints have)."""
    other = Family.SDXL if bundle.family is Family.SD15 else Family.SD15
    off = dict.fromkeys(("ip_adapter", "faceid_adapter", "controlnet_canny", "controlnet_depth"), "none")
    models = {
        MODEL_NAMES[bundle.family]: str(bundle.sd),
        MODEL_NAMES[other]: {"model": str(bundle.other_model), **off, "clip_skip": 2},
    }
    return {**bundle.settings, "LIKENESS_MODELS": json.dumps(models)}


def _write_env(path: Path, settings: dict[str, str]) -> None:
    for key, value in settings.items():
        if "\n" in value:
            raise ValueError(f"{key} contains a newline and cannot be written as an env line")
    path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()), encoding="utf-8")


def _pipeline(family: Family, scale: str) -> Any:
    """The random-weight pipeline: the tiny test shapes, or the real architecture (``full``)."""
    if scale == "full":
        return full.build_full_sdxl() if family is Family.SDXL else full.build_full_sd15()
    return sdxl.build_tiny_sdxl_pipeline() if family is Family.SDXL else sd.build_tiny_pipeline()


def _inpainting_unet(unet: Any) -> Any:
    """The base UNet's architecture taking 9 channels (latents, mask, masked image), fresh weights."""
    from diffusers import UNet2DConditionModel

    config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return UNet2DConditionModel(**{**config, "in_channels": 9})


def _other_vae(vae: Any) -> Any:
    """The model's VAE architecture with weights of its own, so a test can tell which one decoded."""
    from diffusers import AutoencoderKL

    config = {k: v for k, v in vae.config.items() if not k.startswith("_")}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        return AutoencoderKL(**config)


def _build_into(staging: Path, final: TinyBundle, report: Callable[[str], None], scale: str) -> None:
    """Write every component into `staging`; the env file already names the final paths."""
    report(f"building {scale} {final.family.label} pipeline")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        pipe = _pipeline(final.family, scale)
    pipe.save_pretrained(staging / SD_DIR, safe_serialization=True)
    report(f"building {scale} IP-Adapter and image encoder")
    encoder = full.build_full_image_encoder if scale == "full" else None
    ip_adapter.save_ip_adapter(pipe.unet, staging / IP_ADAPTER_DIR, encoder_builder=encoder)
    report("building IP-Adapter FaceID")
    ip_adapter.save_faceid_adapter(pipe.unet, staging / FACEID_DIR)
    if scale != "full":  # real-size copies would only add gigabytes; the tiny ones prove the layouts
        report("writing the weights as one checkpoint file (LDM layout)")
        single_file.save_single_file(pipe, staging / SINGLE_FILE)
        report("building a tiny inpainting model (9-channel UNet)")
        _inpainting_unet(pipe.unet).save_pretrained(staging / INPAINT_DIR / "unet", safe_serialization=True)
        report("building another VAE, as a folder and as one file")
        vae = _other_vae(pipe.vae)
        vae.save_pretrained(staging / VAE_DIR, safe_serialization=True)
        single_file.save_vae_file(vae, staging / VAE_FILE)
        report(f"building a tiny model of the other family, for {MODELS_ENV}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            other = _pipeline(Family.SDXL if final.family is Family.SD15 else Family.SD15, scale)
        other.save_pretrained(staging / OTHER_DIR, safe_serialization=True)
        speed_loras.save_speed_loras(other, staging)
        _write_env(staging / MODELS_ENV, models_settings(final))
    report(f"building {scale} canny and depth ControlNets")
    if scale == "full":  # one real-size ControlNet is what a benchmark times; depth shares its weights
        canny = controlnets.save_controlnets(pipe, staging, ("canny",))["canny"]
        (staging / "controlnet-depth").symlink_to(canny.name)
    else:
        controlnets.save_controlnets(pipe, staging)
    report(f"building a {scale} depth model (Depth Anything V2) and a {scale} Florence-2")
    vision.save_tiny_depth(staging / DEPTH_DIR, scale)
    vision.save_tiny_florence(staging / CAPTION_DIR, scale)
    report("building a tiny NSFW classifier (ViT, labels normal and nsfw)")  # its cost is no benchmark's
    nsfw.save_tiny_nsfw(staging / NSFW_DIR)
    report("building a tiny super-resolution model (RRDBNet, Real-ESRGAN's layout)")
    upscaler.save_tiny_upscaler(staging / UPSCALER_DIR)
    report(f"building {scale} acceleration LoRAs (LCM-LoRA or SDXL-Lightning's layout)")
    speed_loras.save_speed_loras(pipe, staging, rank=64 if scale == "full" else 4)
    report("building tiny style LoRAs (kohya and diffusers formats)")
    loras.save_loras(pipe, staging / LORA_DIR)
    report("building tiny textual-inversion embeddings (A1111's layouts)")
    embeddings.save_embeddings(pipe, staging / EMBEDDING_DIR)
    report("building synthetic insightface face pack")
    face_pack.save_face_pack(staging / FACE_PACK_DIR)
    _write_env(staging / ENV_FILE, final.settings)


def build_tiny_bundle(
    out_dir: Path,
    progress: Callable[[str], None] | None = None,
    *,
    family: Family = Family.SD15,
    scale: str = "tiny",
) -> TinyBundle:
    """Build the tiny offline model bundle of ``family`` at `out_dir`, replacing any previous one.

    Everything is built in a sibling temp folder and renamed into place, so `out_dir` never holds a
    half-written bundle: readers see the old bundle or the new one. Deterministic (fixed seeds).
    """
    final = _layout(Path(out_dir).expanduser().resolve(), family)
    root = final.root
    root.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def report(step: str) -> None:
        logger.info("tiny bundle: %s", step)
        if progress is not None:
            progress(step)

    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
    try:
        _build_into(staging, final, report, scale)
        if root.exists():
            # Two renames instead of rmtree-then-rename keeps the window without a bundle tiny and
            # leaves no partially deleted bundle at `root` if deletion fails midway.
            retired = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
            root.rename(retired / root.name)
            staging.rename(root)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(f"done in {time.perf_counter() - started:.1f}s at {root}")
    return final
