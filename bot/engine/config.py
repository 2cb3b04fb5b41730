"""What the engine is configured with, as plain frozen data; ``Settings.engine_config`` makes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.choices import Structure
from bot.engine.acceleration import Acceleration
from bot.engine.metadata import public_model_name
from bot.engine.speed import Accelerators
from bot.errors import InvalidRequest
from bot.params import LoraUse, SpeedRule


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
    # The NSFW classifier every output is scored with (hub id or folder); None: off, and the model's own
    # safety checker (when it has one) withholds what it flags instead.
    nsfw_model: str | None = None
    upscaler: str | None = None  # the super-resolution model (a file or org/repo/file); None: upscaling off
    name: str = ""  # the name jobs choose it by (LIKENESS_MODELS); "": the model's public name
    clip_skip: int | None = None  # the model's own default clip skip (A1111's count), e.g. 2 for anime
    acceleration: Acceleration = field(default_factory=Acceleration)  # step cache, VRAM fit, compile
    # fast and turbo: each family's acceleration LoRA (``bot.engine.speed``); a family left out has none
    accelerators: Accelerators = field(default_factory=dict)
    distilled: SpeedRule | None = None  # the checkpoint is itself a few-step model: its rule, no LoRA

    @property
    def structures(self) -> frozenset[str]:
        """The structures jobs may ask for: those with a ControlNet (and, for depth, a depth model)."""
        return frozenset(k for k in self.controlnets if k != Structure.DEPTH or self.depth_model is not None)


@dataclass(frozen=True, slots=True)
class ModelBudget:
    """How many models stay loaded (``LIKENESS_MODEL_CACHE``): a count, or megabytes of weights."""

    count: int | None = 1
    bytes: int | None = None

    def over(self, loaded: int, held: int) -> bool:
        """Whether ``loaded`` models holding ``held`` bytes are more than the budget keeps."""
        if self.bytes is not None:
            return held > self.bytes
        return loaded > (self.count or 1)

    @property
    def label(self) -> str:
        if self.bytes is not None:
            return f"{self.bytes // 2**20} MB"
        return f"{self.count or 1} model{'s' if (self.count or 1) != 1 else ''}"


@dataclass(frozen=True, slots=True)
class ModelsConfig:
    """The checkpoints jobs choose by name (``LIKENESS_MODELS``), in the operator's order, the one a
    job that names none runs on, and how many stay loaded. One ``LIKENESS_MODEL`` is a set of one."""

    models: Mapping[str, EngineConfig]
    default: str
    budget: ModelBudget = ModelBudget()
    setting: str = "LIKENESS_MODELS"  # where the operator names them (messages point there)

    def __post_init__(self) -> None:
        if self.default not in self.models:
            raise ValueError(f"the default model {self.default!r} is not among {list(self.models)}")

    @classmethod
    def single(cls, config: EngineConfig) -> ModelsConfig:
        name = config.name or public_model_name(config.model)
        return cls({name: replace(config, name=name)}, name, setting="LIKENESS_MODEL")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.models)

    def check(self, name: str | None) -> str:
        """The model a job runs on: ``name``, or the default; an unknown name lists the valid ones."""
        if name is None or name == self.default:
            return self.default
        if name not in self.models:
            raise InvalidRequest(f"unknown model {name!r}: choose one of {', '.join(self.models)}")
        return name

    def config(self, name: str | None) -> EngineConfig:
        return self.models[self.check(name)]

    @property
    def default_config(self) -> EngineConfig:
        return self.models[self.default]
