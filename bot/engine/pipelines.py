"""Load the weights once and derive every mode's pipeline from them with ``from_pipe``.

``from_pipe`` reuses the same module objects, so switching mode costs neither a reload nor memory.
The IP-Adapter is loaded before the siblings are derived: it patches the shared UNet, and the
siblings must see its image encoder too (see ``Pipelines.ip_adapter_kwargs`` for the other half).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DiffusionPipeline,
    UNet2DConditionModel,
)
from PIL import Image

from bot.engine.config import AdapterSource, EngineConfig
from bot.engine.device import resolve_device, tensor_bytes
from bot.engine.family import ADAPTERS, Family, family_of
from bot.engine.identity import FACEID_DIM
from bot.engine.metadata import public_model_name
from bot.engine.pickles import folder_options, refuse_pickle, safetensors_only, unpickles_safely
from bot.engine.quiet import quiet_loading
from bot.engine.single_file import is_single_file, load_single_file
from bot.engine.vae import VaeChoice, load_vae
from bot.engine.vram import MemoryPlan, apply_memory, plan_memory
from bot.errors import InvalidRequest, ModelUnavailable

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Pipelines:
    """The three pipelines over one set of weights, plus what the engine needs to know about them."""

    text: DiffusionPipeline
    img2img: DiffusionPipeline
    inpaint: DiffusionPipeline
    device: torch.device
    dtype: torch.dtype
    native: int  # the model's native side in pixels (its pixel budget is native²)
    ip_embed_dim: int | None  # None when no image-prompt adapter is loaded
    faceid_dim: int | None = None  # None when no IP-Adapter FaceID is loaded
    family: Family = Family.SD15
    vae: VaeChoice | None = None  # LIKENESS_VAE, when it replaces the model's own
    memory: MemoryPlan | None = None  # LIKENESS_VRAM's choice (offload hooks on every mode's pipeline)

    @property
    def extra_unets(self) -> tuple[torch.nn.Module, ...]:
        """UNets beside the base one: a dedicated inpainting model's (LIKENESS_INPAINT_MODEL)."""
        return (self.inpaint.unet,) if self.inpaint.unet is not self.text.unet else ()

    @property
    def unet_pipes(self) -> tuple[DiffusionPipeline, ...]:
        """One pipeline per distinct UNet: where per-job adapter settings (IP-Adapter scales) go."""
        return (self.text, self.inpaint) if self.extra_unets else (self.text,)

    @property
    def cross_width(self) -> int:
        """The width of the text the UNet's cross-attention reads (a LoRA for it must match)."""
        return int(self.text.unet.config.cross_attention_dim)

    @property
    def max_clip_skip(self) -> int:
        """The deepest clip skip (A1111's count) every text encoder of the model has layers for;
        SDXL already reads its encoders' next-to-last layer, so it has one fewer to go."""
        encoders = [e for e in (self.text.text_encoder, getattr(self.text, "text_encoder_2", None)) if e]
        extra = 0 if self.family is Family.SDXL else 1
        return min(int(e.config.num_hidden_layers) + extra for e in encoders)

    @property
    def sampler(self) -> str:
        """The model's own scheduler class (a job runs the one its sampler names)."""
        return type(self.text.scheduler).__name__

    @property
    def scheduler_config(self) -> Any:
        """The model's own scheduler config, which every job's sampler is built on."""
        return self.text.scheduler.config

    @property
    def weight_bytes(self) -> int:
        """Every distinct weight of the three pipelines: the shared ones once, an inpainting UNet too."""
        return tensor_bytes(
            m
            for pipe in (self.text, self.inpaint)
            for m in pipe.components.values()
            if isinstance(m, torch.nn.Module)
        )

    @property
    def modules(self) -> dict[str, torch.nn.Module]:
        return {name: m for name, m in self.text.components.items() if isinstance(m, torch.nn.Module)}

    def ip_adapter_kwargs(
        self,
        image: Image.Image | None,
        weight: float,
        guided: bool,
        face: np.ndarray | None = None,
        face_weight: float = 0.0,
    ) -> dict[str, object]:
        """Arguments for the adapter-patched UNet, needed by every call once an adapter is loaded.

        Embeddings are always passed precomputed, one entry per loaded adapter (plain first, then
        FaceID), because FaceID has no image encoder and diffusers then needs embeds for *all* of them.
        An adapter without input gets zeros at scale 0, which diffusers' attention processors skip
        entirely, so plain modes pay nothing for it. ``face`` is ``(N, faceid_dim)`` normalised rows.
        """
        if image is not None and self.ip_embed_dim is None:
            raise InvalidRequest(
                "image_prompt is disabled on this bot (no IP-Adapter configured); use img2img instead"
            )
        if face is not None and self.faceid_dim is None:
            raise InvalidRequest(
                "face lock is disabled on this bot (no IP-Adapter FaceID configured: LIKENESS_FACEID_ADAPTER)"
            )
        embeds: list[torch.Tensor] = []
        scales: list[float] = []
        if self.ip_embed_dim is not None:
            if image is not None:
                cond, uncond = self.text.encode_image(image, self.device, 1)
                plain = torch.cat([uncond, cond]) if guided else cond
                embeds.append(plain.unsqueeze(1).to(self.device, self.dtype))
                scales.append(float(weight))
            else:
                embeds.append(self._zeros(1, self.ip_embed_dim, guided))
                scales.append(0.0)
        if self.faceid_dim is not None:
            if face is not None:
                rows = np.asarray(face, dtype=np.float32).reshape(-1, self.faceid_dim)
                emb = torch.from_numpy(rows).unsqueeze(0).to(self.device, self.dtype)  # (1, N, dim)
                embeds.append(torch.cat([torch.zeros_like(emb), emb]) if guided else emb)
                scales.append(float(face_weight))
            else:
                embeds.append(self._zeros(1, self.faceid_dim, guided))
                scales.append(0.0)
        if not embeds:
            return {}
        for pipe in self.unet_pipes:
            pipe.set_ip_adapter_scale(scales)
        return {"ip_adapter_image_embeds": embeds}

    def _zeros(self, tokens: int, dim: int, guided: bool) -> torch.Tensor:
        return torch.zeros((2 if guided else 1, tokens, dim), device=self.device, dtype=self.dtype)


def _missing(what: str, where: str, setting: str, exc: BaseException, extra: str = "") -> ModelUnavailable:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    local = Path(where).expanduser()
    if local.exists() and "safetensors" in reason and not unpickles_safely():
        return ModelUnavailable(f"cannot load the {what} from {where!r}: {safetensors_only()} ({reason})")
    hint = (
        f"the folder {local} exists but is not a complete diffusers/adapter layout"
        if local.exists()
        else "it is neither a local folder nor in the Hugging Face cache, and the hub cannot be reached; "
        f"download it on a connected machine (huggingface-cli download {where}) or point {setting} "
        "at a local folder (python -m bot tiny-models DIR builds a tiny offline bundle)"
    )
    return ModelUnavailable(f"cannot load the {what} from {where!r}: {hint} ({reason}){extra}")


def _load_adapters(
    pipe: DiffusionPipeline, plain: AdapterSource | None, faceid: AdapterSource | None
) -> tuple[int | None, int | None]:
    """Load the configured adapters in ONE call: separate ``load_ip_adapter`` calls replace each other.

    The plain adapter comes first so the CLIP image encoder is read from ``<subfolder>/image_encoder``;
    FaceID alone needs no encoder. Returns (image embed dim, FaceID dim), None for each one not loaded.
    """
    sources = [s for s in (plain, faceid) if s is not None]
    if not sources:
        return None, None
    if plain is not None:
        refuse_pickle(plain.weight_name or "", "LIKENESS_IP_ADAPTER")
    if faceid is not None:
        refuse_pickle(faceid.weight_name or "", "LIKENESS_FACEID_ADAPTER")
    try:
        if plain is None:
            assert faceid is not None
            pipe.load_ip_adapter(
                faceid.location,
                subfolder=faceid.subfolder,
                weight_name=faceid.weight_name,
                image_encoder_folder=None,
            )
        else:
            pipe.load_ip_adapter(
                [s.location for s in sources],
                subfolder=[s.subfolder for s in sources],
                weight_name=[s.weight_name for s in sources],
            )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        if faceid is not None and (plain is None or _readable(plain)):
            raise _missing(
                "IP-Adapter FaceID (face lock)",
                faceid.location,
                "LIKENESS_FACEID_ADAPTER",
                exc,
                extra="; set LIKENESS_FACEID_ADAPTER=none to run without face lock",
            ) from exc
        assert plain is not None
        raise _missing("IP-Adapter (image prompt)", plain.location, "LIKENESS_IP_ADAPTER", exc) from exc
    ip_dim = None
    if plain is not None:
        encoder = getattr(pipe, "image_encoder", None)
        if encoder is None:
            raise ModelUnavailable(
                f"the IP-Adapter at {plain.location!r} came without an image encoder "
                f"(expected {plain.subfolder}/image_encoder beside {plain.weight_name})"
            )
        ip_dim = int(encoder.config.projection_dim)
    return ip_dim, (FACEID_DIM if faceid is not None else None)


def _readable(source: AdapterSource) -> bool:
    """Whether the adapter's weight file is a local file (a hub id counts as unreadable)."""
    local = Path(source.location).expanduser()
    return (local / (source.subfolder or "") / (source.weight_name or "")).is_file()


def with_family_defaults(
    family: Family, plain: AdapterSource | None, faceid: AdapterSource | None
) -> tuple[AdapterSource | None, AdapterSource | None]:
    """The adapters with the family's subfolder and file name wherever the settings left them out."""
    names = ADAPTERS[family]
    if plain is not None:
        plain = AdapterSource(
            plain.location,
            names.ip_adapter_subfolder if plain.subfolder is None else plain.subfolder,
            plain.weight_name or names.ip_adapter_weight,
        )
    if faceid is not None:
        faceid = AdapterSource(
            faceid.location,
            names.faceid_subfolder if faceid.subfolder is None else faceid.subfolder,
            faceid.weight_name or names.faceid_weight,
        )
    return plain, faceid


def _inpaint_unet(
    config: EngineConfig, dtype: torch.dtype, base: DiffusionPipeline, device: torch.device
) -> UNet2DConditionModel:
    """The inpainting model's UNet (9 input channels: latents, mask, masked image), of the base's family."""
    assert config.inpaint_model is not None
    started = time.perf_counter()
    try:
        unet = UNet2DConditionModel.from_pretrained(
            config.inpaint_model,
            subfolder="unet",
            dtype=dtype,
            local_files_only=config.offline,
            **folder_options(),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise _missing("inpainting model", config.inpaint_model, "LIKENESS_INPAINT_MODEL", exc) from exc
    channels = int(unet.config.in_channels)
    if channels != 9:
        raise ModelUnavailable(
            f"LIKENESS_INPAINT_MODEL {config.inpaint_model!r} is not an inpainting model: its UNet takes "
            f"{channels} input channels, an inpainting one 9 (latents, mask, masked image)"
        )
    width, base_width = int(unet.config.cross_attention_dim), int(base.unet.config.cross_attention_dim)
    if width != base_width:
        raise ModelUnavailable(
            f"LIKENESS_INPAINT_MODEL {config.inpaint_model!r} is of another family than LIKENESS_MODEL "
            f"(its text width is {width}, the model's {base_width}): choose an inpainting model of "
            f"{family_of(base).label}"
        )
    if device.type != "cpu":
        unet.to(device)
    log.info(
        "inpainting model %s: 9-channel UNet for inpaint and outpaint, loaded in %.1f s",
        public_model_name(config.inpaint_model),
        time.perf_counter() - started,
    )
    return unet


def _load_folder(config: EngineConfig, dtype: torch.dtype) -> DiffusionPipeline:
    """A diffusers folder or a hub id (from the Hugging Face cache when offline)."""
    try:
        return AutoPipelineForText2Image.from_pretrained(
            config.model, dtype=dtype, local_files_only=config.offline, **folder_options()
        )
    except (OSError, ValueError, KeyError) as exc:
        raise _missing("diffusion model", config.model, "LIKENESS_MODEL", exc) from exc


@contextlib.contextmanager
def clip_skip_path(pipe: DiffusionPipeline, skip: int | None) -> Iterator[None]:
    """While a call with ``clip_skip`` runs: transformers 5.6 flattened ``CLIPTextModel`` (no
    ``text_model`` inside), but diffusers' clip skip still reads ``text_encoder.text_model.
    final_layer_norm`` (diffusers#14124, open). Point that path at the encoder itself for the call
    alone, outside the module tree: LoRA loading reads ``text_model`` to choose its key layout, so it
    must not find it at any other time. An encoder that has the path (older transformers, or a
    diffusers that no longer needs it) is left as it is."""
    added = []
    for name in ("text_encoder", "text_encoder_2") if skip else ():
        encoder = getattr(pipe, name, None)
        if (
            encoder is not None
            and hasattr(encoder, "final_layer_norm")
            and not hasattr(encoder, "text_model")
        ):
            object.__setattr__(encoder, "text_model", encoder)
            added.append(encoder)
    try:
        yield
    finally:
        for encoder in added:
            object.__delattr__(encoder, "text_model")


def load_pipelines(config: EngineConfig) -> Pipelines:
    """Load weights once, in the target dtype; raise ``ModelUnavailable`` naming the setting to fix."""
    device, dtype = resolve_device(config.device, config.dtype)
    quiet_loading()
    started = time.perf_counter()
    text = load_single_file(config, dtype) if is_single_file(config.model) else _load_folder(config, dtype)
    family = family_of(text)
    if config.nsfw_model is not None and getattr(text, "safety_checker", None) is not None:
        # The NSFW classifier scores every output and the bot decides where it may go; the model's own
        # checker would black out and drop what an age-restricted channel may show. Before from_pipe,
        # so no mode keeps it.
        text.register_modules(safety_checker=None)
        log.info("model %s: safety checker off (the NSFW classifier checks)", public_model_name(config.model))
    native = config.resolution or int(text.unet.config.sample_size * text.vae_scale_factor)
    log.info(
        "model %s: %s, %s on %s, native %d px, sampler %s, loaded in %.1f s",
        public_model_name(config.model),
        family.label,
        str(dtype).removeprefix("torch."),
        device.type,
        native,
        type(text.scheduler).__name__,
        time.perf_counter() - started,
    )
    started = time.perf_counter()
    plain, faceid = with_family_defaults(family, config.ip_adapter, config.faceid_adapter)
    ip_dim, face_dim = _load_adapters(text, plain, faceid)
    if plain is not None or faceid is not None:
        log.info(
            "adapters for %s: image prompt %s, face lock %s, loaded in %.1f s",
            family.label,
            plain.weight_name if plain is not None else "off",
            faceid.weight_name if faceid is not None else "off",
            time.perf_counter() - started,
        )
    vae = None
    if config.vae is not None:  # before the other modes are made from it: they decode with it too
        text.vae, vae = load_vae(config, text, dtype)
    accel, extra_unet = config.acceleration, config.inpaint_model is not None
    memory = plan_memory(accel.vram, device, text, native, len(config.structures), extra_unet, accel.compile)
    if memory.weights_device.type != "cpu":  # weights load on the cpu; moving them there again only warns
        text.to(device)
    img2img = AutoPipelineForImage2Image.from_pipe(text)
    if config.inpaint_model is not None:  # its own UNet; the text encoders, VAE and image encoder shared
        unet = _inpaint_unet(config, dtype, text, memory.weights_device)
        inpaint = AutoPipelineForInpainting.from_pipe(text, unet=unet)
        if plain is not None or faceid is not None:
            _load_adapters(inpaint, plain, faceid)  # the image encoder is the base's: it is not read again
    else:
        inpaint = AutoPipelineForInpainting.from_pipe(text)
    for pipe in (text, img2img, inpaint):
        pipe.set_progress_bar_config(disable=True)
    apply_memory(memory, (text, img2img, inpaint), adapters=ip_dim is not None or face_dim is not None)
    return Pipelines(text, img2img, inpaint, device, dtype, native, ip_dim, face_dim, family, vae, memory)
