"""Load the weights once and derive every mode's pipeline from them with ``from_pipe``.

``from_pipe`` reuses the same module objects, so switching mode costs neither a reload nor memory.
The IP-Adapter is loaded before the siblings are derived: it patches the shared UNet, and the
siblings must see its image encoder too (see ``Pipelines.ip_adapter_kwargs`` for the other half).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DiffusionPipeline,
)
from PIL import Image

from bot.engine.config import AdapterSource, EngineConfig
from bot.engine.device import resolve_device
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

    @property
    def sampler(self) -> str:
        return type(self.text.scheduler).__name__

    @property
    def modules(self) -> dict[str, torch.nn.Module]:
        return {name: m for name, m in self.text.components.items() if isinstance(m, torch.nn.Module)}

    def ip_adapter_kwargs(self, image: Image.Image | None, weight: float, guided: bool) -> dict[str, object]:
        """Arguments for the adapter-patched UNet, needed by every call once the adapter is loaded.

        Without an image prompt the UNet still expects embeddings: pass zeros at scale 0, which
        diffusers' attention processors skip entirely, so plain modes pay nothing for the adapter.
        """
        if self.ip_embed_dim is None:
            if image is not None:
                raise InvalidRequest(
                    "image_prompt is disabled on this bot (no IP-Adapter configured); use img2img instead"
                )
            return {}
        if image is not None:
            self.text.set_ip_adapter_scale(weight)
            return {"ip_adapter_image": image}
        self.text.set_ip_adapter_scale(0.0)
        zeros = torch.zeros((2 if guided else 1, 1, self.ip_embed_dim), device=self.device, dtype=self.dtype)
        return {"ip_adapter_image_embeds": [zeros]}


def _missing(what: str, where: str, setting: str, exc: BaseException) -> ModelUnavailable:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    local = Path(where).expanduser()
    hint = (
        f"the folder {local} exists but is not a complete diffusers/adapter layout"
        if local.exists()
        else "it is neither a local folder nor in the Hugging Face cache, and the hub cannot be reached; "
        f"download it on a connected machine (huggingface-cli download {where}) or point {setting} "
        "at a local folder (python -m bot tiny-models DIR builds a tiny offline bundle)"
    )
    return ModelUnavailable(f"cannot load the {what} from {where!r}: {hint} ({reason})")


def _load_ip_adapter(pipe: DiffusionPipeline, source: AdapterSource) -> int:
    try:
        pipe.load_ip_adapter(source.location, subfolder=source.subfolder, weight_name=source.weight_name)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise _missing("IP-Adapter (image prompt)", source.location, "LIKENESS_IP_ADAPTER", exc) from exc
    encoder = getattr(pipe, "image_encoder", None)
    if encoder is None:
        raise ModelUnavailable(
            f"the IP-Adapter at {source.location!r} came without an image encoder "
            f"(expected {source.subfolder}/image_encoder beside {source.weight_name})"
        )
    return int(encoder.config.projection_dim)


def load_pipelines(config: EngineConfig) -> Pipelines:
    """Load weights once; raise ``ModelUnavailable`` naming the setting to fix."""
    device, dtype = resolve_device(config.device, config.dtype)
    log.info("loading %s", config.model)
    try:
        text = AutoPipelineForText2Image.from_pretrained(config.model, torch_dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise _missing("diffusion model", config.model, "LIKENESS_MODEL", exc) from exc
    ip_dim = _load_ip_adapter(text, config.ip_adapter) if config.ip_adapter else None
    if device.type != "cpu":  # weights load on the cpu; moving them there again only warns
        text.to(device)
    img2img = AutoPipelineForImage2Image.from_pipe(text)
    inpaint = AutoPipelineForInpainting.from_pipe(text)
    for pipe in (text, img2img, inpaint):
        pipe.set_progress_bar_config(disable=True)
    native = config.resolution or int(text.unet.config.sample_size * text.vae_scale_factor)
    log.info(
        "model ready: native %d px, sampler %s, image prompt %s",
        native,
        type(text.scheduler).__name__,
        "on" if ip_dim else "off",
    )
    return Pipelines(text, img2img, inpaint, device, dtype, native, ip_dim)
