"""What the engine is configured with, as plain frozen data; ``Settings.engine_config`` makes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.choices import Structure
from bot.params import LoraUse


@dataclass(frozen=True, slots=True)
class AdapterSource:
    """Where ``load_ip_adapter`` finds one adapter: a hub id or local folder, subfolder, file name.
    A subfolder or file name left None is the loaded model family's (``bot.engine.family``)."""

    location: str
    subfolder: str | None = None
    weight_name: str | None = None


DEFAULT_LORA_CACHE_BYTES = 1024 * 2**20
"""Loaded LoRAs beyond this are unloaded, least recently used first."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    model: str  # a hub id, a diffusers folder, or one .safetensors (or .ckpt) checkpoint file
    model_config: str | None = None  # a single file's diffusers config: a local folder or a cached hub id
    offline: bool = False  # nothing is downloaded: the hub's files come from its local cache or not at all
    inpaint_model: str | None = None  # a dedicated inpainting model (its 9-channel UNet), hub id or folder
    vae: str | None = None  # another VAE: a hub id, a folder or one file; None: the model's own
    device: str = "auto"
    dtype: str = "auto"
    resolution: int | None = None
    ip_adapter: AdapterSource | None = None
    faceid_adapter: AdapterSource | None = None
    lora_dir: Path | None = None  # the operator's folder of style LoRAs; None: LoRAs off
    embedding_dir: Path | None = None  # textual-inversion embeddings, used by name in prompts
    lora_cache_bytes: int = DEFAULT_LORA_CACHE_BYTES
    styles: Mapping[str, tuple[LoraUse, ...]] = field(default_factory=dict)  # the operator's style LoRAs
    # Structure control: a ControlNet per structure (hub id, folder, or "auto": the family's common
    # one); a structure left out is off. Depth maps need ``depth_model`` as well.
    controlnets: Mapping[str, str] = field(default_factory=dict)
    depth_model: str | None = None
    caption_model: str | None = None  # Florence-2 for /describe (hub id or folder); None: describe off

    @property
    def structures(self) -> frozenset[str]:
        """The structures jobs may ask for: those with a ControlNet (and, for depth, a depth model)."""
        return frozenset(k for k in self.controlnets if k != Structure.DEPTH or self.depth_model is not None)
