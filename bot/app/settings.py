"""Settings read from the environment and ``.env``; one invalid value stops start-up with one line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.app.models import model_budget, model_entry
from bot.app.speeds import accelerators_setting, distilled_entry
from bot.choices import DEFAULT_SAMPLER, SAMPLERS, Structure
from bot.engine.acceleration import Acceleration, StepCache, Vram
from bot.engine.config import AdapterSource, EngineConfig, ModelsConfig
from bot.engine.downloads import DEFAULT_FACE_PACK_URL
from bot.engine.faces.factory import FaceConfig
from bot.engine.family import Family
from bot.engine.speed import Accelerator
from bot.errors import SettingsInvalid
from bot.guilds.declared import MAX_DAILY_JOBS
from bot.guilds.policy import BotLimits
from bot.nsfw_policy import DEFAULT_THRESHOLD, NsfwPolicy
from bot.params import (
    DEFAULT_MAX_TRIES,
    DEFAULT_STEPS,
    MAX_TRIES_RANGE,
    MIN_IDENTITY_RANGE,
    STEPS_RANGE,
    Defaults,
    LoraUse,
    parse_loras,
)
from bot.running.runners import RayConfig

MB = 2**20  # the settings' MB, as storage counts them
METRICS_KEY_MIN = 16  # characters: a key guessed online through 429s would take forever
DISABLED = frozenset({"", "none", "off", "false", "0"})
DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
DEFAULT_UPSCALER = "ai-forever/Real-ESRGAN/RealESRGAN_x4.pth"  # Real-ESRGAN 4x, BSD-3-Clause
DEFAULT_CAPTION_MODEL = "florence-community/Florence-2-base"
DEFAULT_NSFW_MODEL = "Falconsai/nsfw_image_detection"  # ViT, Apache-2.0 (bot.engine.nsfw)


class Settings(BaseSettings):
    """Everything configurable; names map to ``LIKENESS_<FIELD>`` except ``DISCORD_TOKEN``."""

    model_config = SettingsConfigDict(
        env_prefix="LIKENESS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
    )

    discord_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DISCORD_TOKEN", "LIKENESS_DISCORD_TOKEN"),
        description="the bot's token from the Discord developer portal; needed by `run`, not by the CLI",
    )
    guild_id: int | None = Field(default=None, description="sync commands to one guild (instant)")
    shards: Literal["auto"] | int = Field(
        default=1,
        description="gateway connections: 1, a number, or auto (discord.py's auto-sharded client, with "
        "the count Discord recommends; Discord requires sharding from 2,500 servers)",
    )

    data_dir: Path = Field(
        default=Path("data"), description="the database, media, API keys and downloaded face packs"
    )
    model: str = Field(
        default=DEFAULT_MODEL,
        description="the checkpoint: a hub id, a diffusers folder or a single file, SD 1.5 or SDXL",
    )
    models: dict[str, str | dict[str, Any]] = Field(
        default_factory=dict,
        description='several checkpoints, chosen per job by name, as JSON: {"photo": "org/model", '
        '"anime": {"model": "/models/anime.safetensors", "clip_skip": 2, "vae": "…"}}; empty: LIKENESS_MODEL',
    )
    default_model: str | None = Field(
        default=None, description="the LIKENESS_MODELS name a job that names none runs on; empty: the first"
    )
    model_cache: str = Field(
        default="1",
        description="models kept loaded, the least recently used dropped first: a count (2) or MB (12000MB)",
    )
    # LIKENESS_MODEL_CONFIG (``model_config`` is pydantic's own name, so the field is called otherwise)
    checkpoint_config: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LIKENESS_MODEL_CONFIG", "checkpoint_config"),
        description="a single-file model's diffusers config (local folder or cached hub id)",
    )
    offline: bool = Field(
        default=False, description="download nothing: models come from disk or the HF cache"
    )
    inpaint_model: str | None = Field(
        default=None, description="an inpainting model (hub id or diffusers folder) for inpaint and outpaint"
    )
    vae: str = Field(
        default="",
        description="another VAE (hub id, folder or file); empty: the model's own "
        "(madebyollin/sdxl-vae-fp16-fix is the usual one for SDXL in float16)",
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        default="auto", description="where models run; auto: CUDA, then Apple's MPS, then the CPU"
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        default="auto", description="weights' precision; auto: float16 on CUDA, float32 elsewhere"
    )
    resolution: int | None = Field(default=None, ge=64, le=2048, description="override native size")
    step_cache: Literal["off", "light", "medium", "strong"] = Field(
        default="off",
        description="DeepCache step caching: off, light, medium or strong (every 2nd, 3rd or 5th step runs "
        "the whole UNet, the others reuse its deep features): faster, slightly different images",
    )
    vram: Literal["auto", "high", "low"] = Field(
        default="auto",
        description="fitting the card: high keeps every weight on it, low offloads models to the CPU and "
        "tiles the VAE, auto picks low when the card is short of what the model needs (logged at start)",
    )
    compile: bool = Field(
        default=False, description="torch.compile the UNet on a GPU, warmed up at start; off on the cpu"
    )
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = Field(
        default="max-autotune-no-cudagraphs",
        description="the torch.compile mode; the default autotunes without CUDA graphs (memory per shape)",
    )

    ip_adapter: str = Field(
        default="h94/IP-Adapter", description="the IP-Adapter repository (image prompt mode); none: off"
    )
    # Left out: the loaded model's family decides (SD 1.5: models/ip-adapter_sd15.safetensors,
    # SDXL: sdxl_models/ip-adapter_sdxl.bin; FaceID: ip-adapter-faceid_sd15.bin or _sdxl.bin).
    ip_adapter_subfolder: str | None = Field(
        default=None, description="the IP-Adapter's folder in its repository; empty: the family's"
    )
    ip_adapter_weight: str | None = Field(
        default=None, description="the IP-Adapter's weight file; empty: the family's"
    )
    faceid_adapter: str = Field(
        default="h94/IP-Adapter-FaceID", description="the FaceID adapter repository (face lock); none: off"
    )
    faceid_subfolder: str | None = Field(
        default=None, description="the FaceID adapter's folder in its repository; empty: the top"
    )
    faceid_weight: str | None = Field(
        default=None, description="the FaceID adapter's weight file; empty: the family's"
    )

    controlnet_canny: str = Field(
        default="auto",
        description="the canny ControlNet: auto (the family's common one), an id, a folder, none",
    )
    controlnet_depth: str = Field(
        default="auto",
        description="the depth ControlNet: auto (the family's common one), an id, a folder, none",
    )
    depth_model: str = Field(
        default=DEFAULT_DEPTH_MODEL, description="the depth-estimation model depth maps come from; none: off"
    )
    caption_model: str = Field(
        default=DEFAULT_CAPTION_MODEL, description="the Florence-2 model /describe uses; none: describe off"
    )
    upscaler: str = Field(
        default=DEFAULT_UPSCALER,
        description="the super-resolution model of upscales: a .pth or .safetensors file, or "
        "org/repo/file.pth on the hub (read by spandrel); the default is Real-ESRGAN 4x, BSD-3-Clause; "
        "none: upscaling off",
    )
    nsfw_model: str = Field(
        default=DEFAULT_NSFW_MODEL,
        description="the image classifier every output is checked with; none: the model's own checker",
    )
    nsfw_threshold: float = Field(
        default=DEFAULT_THRESHOLD, gt=0, le=1, description="an output scoring this or more is flagged NSFW"
    )
    nsfw_dms: bool = Field(default=False, description="whether DMs get images flagged NSFW")

    lora_dir: Path | None = Field(
        default=None, description="folder of style LoRAs (.safetensors); empty: off"
    )
    embedding_dir: Path | None = Field(
        default=None, description="folder of textual-inversion embeddings (.safetensors, .pt); empty: off"
    )
    lora_cache_mb: int = Field(default=1024, ge=1, le=1_000_000, description="MB of LoRAs kept loaded")
    style_loras: dict[str, str] = Field(
        default_factory=dict,
        description='styles that add LoRAs, as JSON: {"anime": "animeStyle:0.8", "cartoon": "toon:0.6"}',
    )

    face_backend: Literal["insightface", "dlib"] = Field(
        default="insightface", description="the face detector and embedder of character references"
    )
    face_model_dir: Path | None = Field(
        default=None, description="the insightface pack's folder; empty: DATA_DIR/models/buffalo_l"
    )
    face_det_size: int = Field(
        default=640, ge=64, le=2048, description="the face detector's input size in pixels"
    )
    face_pack_url: str = Field(
        default=DEFAULT_FACE_PACK_URL, description="where a missing insightface pack is downloaded from"
    )
    face_pack_sha256: str | None = Field(
        default=None,
        description="the sha256 the face pack's zip must have (buffalo_l and antelopev2 from insightface's "
        "release are pinned already); for a mirror or another pack",
    )

    default_steps: int = Field(
        default=DEFAULT_STEPS,
        ge=STEPS_RANGE[0],
        le=STEPS_RANGE[1],
        description="denoising steps of a job that gives none",
    )
    default_sampler: str = Field(
        default=DEFAULT_SAMPLER, description="the sampler, by its A1111 name, of a job that names none"
    )
    default_speed: Literal["quality", "fast", "turbo"] = Field(
        default="quality",
        description="the speed of a job that names none: quality, fast (about 8 steps) or turbo (4)",
    )
    speed_sd15: str = Field(
        default="lcm",
        description="SD 1.5's acceleration LoRAs for fast and turbo: lcm "
        "(latent-consistency/lcm-lora-sdv1-5), hyper-sd (ByteDance/Hyper-SD), none, or JSON per speed",
    )
    speed_sdxl: str = Field(
        default="lightning",
        description="SDXL's acceleration LoRAs for fast and turbo: lightning (ByteDance/SDXL-Lightning), "
        "hyper-sd, lcm (latent-consistency/lcm-lora-sdxl), none, or JSON per speed",
    )
    min_identity: float | None = Field(
        default=None,
        ge=MIN_IDENTITY_RANGE[0],
        le=MIN_IDENTITY_RANGE[1],
        description="server default min_identity for face-locked jobs that do not give one",
    )
    max_tries: int = Field(
        default=DEFAULT_MAX_TRIES,
        ge=MAX_TRIES_RANGE[0],
        le=MAX_TRIES_RANGE[1],
        description="retry budget: the most generation rounds one face-locked job may take",
    )
    decode_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="uploads decoded at once (a 40 MP one holds about 310 MB); others wait, then busy",
    )
    owner_ids: str = Field(
        default="",
        description="the bot owners' Discord user ids, comma-separated: they may ban someone everywhere",
    )
    daily_jobs: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DAILY_JOBS,
        description="jobs per user per UTC day, Discord and the API together (servers may set less); "
        "empty: no cap",
    )
    max_output_mp: float = Field(
        default=16.0,
        gt=0,
        le=1000,
        description="the largest picture an upscale, hires fix or zoom may make, in megapixels "
        "(servers may set less)",
    )
    queue_per_user: int = Field(default=3, ge=1, le=100, description="jobs one user may have waiting")
    queue_total: int = Field(default=50, ge=1, le=10_000, description="jobs waiting in all; past it: full")
    history_days: float = Field(
        default=7.0, gt=0, description="days finished jobs and their outputs are kept before the sweep"
    )
    max_characters: int = Field(default=25, ge=1, le=10_000, description="characters per user")
    max_stored_mb: int = Field(
        default=500, ge=1, le=10_000_000, description="MB of images one user may store (all their files)"
    )
    min_free_mb: int = Field(
        default=1024, ge=0, le=10_000_000, description="free-disk floor: nothing new is written below it"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="the bot's log level (secrets are redacted at every level)"
    )
    log_http: bool = Field(
        default=False,
        description="log every outgoing HTTP request (httpx, httpcore; URLs redacted); off: their warnings",
    )

    workers: Literal["local", "ray"] = Field(
        default="local", description="where jobs run: this process's worker thread, or Ray actors"
    )
    ray_address: str = Field(
        default="", description='Ray cluster: "" starts one here, "auto", "ray://host:10001"'
    )
    ray_workers: int | None = Field(
        default=None, ge=1, le=1024, description="GPU workers; empty: one per GPU"
    )
    ray_gpus_per_worker: float = Field(default=1.0, ge=0, le=16, description="0: CPU workers (tests)")
    ray_cpus_per_worker: float = Field(default=1.0, gt=0, le=256, description="CPUs each Ray worker holds")

    api_port: int | None = Field(default=None, ge=1, le=65535, description="HTTP API port; empty: off")
    api_host: str = Field(default="127.0.0.1", description="address the HTTP API listens on")
    api_public_url: str | None = Field(
        default=None, description="the API's address as clients reach it (output URLs in webhooks)"
    )
    api_rate_limit: int = Field(default=120, ge=1, le=100_000, description="requests per minute per key")
    api_user_rate_limit: int = Field(
        default=240, ge=1, le=100_000, description="requests per minute per user, all their keys together"
    )
    api_auth_failures: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="unknown or revoked keys per client address in 10 minutes; past them it is refused",
    )
    api_allow_private_urls: bool = Field(
        default=False,
        description="let image_url and webhook reach loopback and private addresses, and webhooks use http "
        "(tests, a LAN)",
    )
    webhook_max_tries: int = Field(default=8, ge=1, le=50, description="tries per webhook delivery")

    metrics_key: SecretStr | None = Field(
        default=None,
        description="the bearer token GET /metrics needs; empty: the route is open on the API's address",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve the metrics alone on this port (no key checked: keep it on loopback; 0: any "
        "free port); empty: off",
    )
    metrics_host: str = Field(default="127.0.0.1", description="address LIKENESS_METRICS_PORT listens on")

    @field_validator("style_loras")
    @classmethod
    def _style_loras_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for name, loras in value.items():
            if not name.strip() or not parse_loras(loras):
                raise ValueError(f"style {name!r} names no LoRA: give NAME or NAME:WEIGHT, comma-separated")
        return value

    @property
    def styles(self) -> dict[str, tuple[LoraUse, ...]]:
        return {name.strip(): parse_loras(loras) for name, loras in self.style_loras.items()}

    @field_validator("models")
    @classmethod
    def _models_parse(cls, value: dict[str, str | dict[str, Any]]) -> dict[str, str | dict[str, Any]]:
        for name, spec in value.items():
            model_entry(name, spec)
        return value

    @field_validator("speed_sd15", "speed_sdxl")
    @classmethod
    def _speed_parse(cls, value: str, info: ValidationInfo) -> str:
        accelerators_setting(value, Family.SDXL if info.field_name == "speed_sdxl" else Family.SD15)
        return value

    @property
    def accelerators(self) -> dict[Family, dict[str, Accelerator]]:
        """Each family's acceleration LoRAs for fast and turbo."""
        return {
            Family.SD15: accelerators_setting(self.speed_sd15, Family.SD15),
            Family.SDXL: accelerators_setting(self.speed_sdxl, Family.SDXL),
        }

    @field_validator("model_cache")
    @classmethod
    def _cache_parse(cls, value: str) -> str:
        model_budget(value)
        return value

    @field_validator("metrics_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        key = value.get_secret_value().strip()
        if len(key) < METRICS_KEY_MIN:
            raise ValueError(
                f"must be at least {METRICS_KEY_MIN} characters: "
                "python -c 'import secrets; print(secrets.token_urlsafe())' makes one"
            )
        return SecretStr(key)

    @field_validator("shards")
    @classmethod
    def _shards(cls, value: str | int) -> str | int:
        if isinstance(value, int) and not 1 <= value <= 1000:
            raise ValueError(f"must be auto or a number of shards from 1 to 1000 (got {value})")
        return value

    @field_validator("owner_ids")
    @classmethod
    def _user_ids(cls, value: str) -> str:
        for part in value.replace(";", ",").split(","):
            if part.strip() and not part.strip().isdigit():
                raise ValueError(
                    f"{part.strip()!r} is not a Discord user id: give ids like 1234567890, comma-separated"
                )
        return value

    @property
    def owners(self) -> frozenset[int]:
        return frozenset(int(p) for p in self.owner_ids.replace(";", ",").split(",") if p.strip())

    @property
    def bot_limits(self) -> BotLimits:
        """The bot-wide ceilings a server's limits may only tighten."""
        return BotLimits(max_megapixels=self.max_output_mp, daily_jobs=self.daily_jobs)

    @field_validator("default_sampler")
    @classmethod
    def _a_sampler(cls, value: str) -> str:
        if value not in SAMPLERS:
            raise ValueError(f"unknown sampler {value!r}: choose one of {', '.join(SAMPLERS)}")
        return value

    @field_validator("face_pack_sha256")
    @classmethod
    def _a_sha256(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be a sha256: 64 hexadecimal digits")
        return value

    @field_validator("resolution")
    @classmethod
    def _multiple_of_8(cls, value: int | None) -> int | None:
        if value is not None and value % 8:
            raise ValueError("must be a multiple of 8")
        return value

    @property
    def ip_adapter_enabled(self) -> bool:
        return self.ip_adapter.strip().lower() not in DISABLED

    @property
    def faceid_enabled(self) -> bool:
        return self.faceid_adapter.strip().lower() not in DISABLED

    @property
    def controlnets(self) -> dict[str, str]:
        given = {Structure.CANNY: self.controlnet_canny, Structure.DEPTH: self.controlnet_depth}
        return {kind: where.strip() for kind, where in given.items() if where.strip().lower() not in DISABLED}

    @property
    def depth_model_enabled(self) -> str | None:
        return None if self.depth_model.strip().lower() in DISABLED else self.depth_model.strip()

    @property
    def caption_model_enabled(self) -> str | None:
        return None if self.caption_model.strip().lower() in DISABLED else self.caption_model.strip()

    @property
    def upscaler_enabled(self) -> str | None:
        return None if self.upscaler.strip().lower() in DISABLED else self.upscaler.strip()

    @property
    def nsfw_model_enabled(self) -> str | None:
        return None if self.nsfw_model.strip().lower() in DISABLED else self.nsfw_model.strip()

    @property
    def nsfw_policy(self) -> NsfwPolicy:
        """The bot-wide NSFW policy; a server's own setting narrows it (``NsfwPolicy.for_server``)."""
        return NsfwPolicy(self.nsfw_threshold, self.nsfw_dms)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "likeness.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def max_stored_bytes(self) -> int:
        return self.max_stored_mb * MB

    @property
    def min_free_bytes(self) -> int:
        return self.min_free_mb * MB

    @property
    def resolved_face_model_dir(self) -> Path:
        return self.face_model_dir or self.data_dir / "models" / "buffalo_l"

    @property
    def ray_config(self) -> RayConfig:
        return RayConfig(
            address=self.ray_address.strip(),
            workers=self.ray_workers,
            gpus_per_worker=self.ray_gpus_per_worker,
            cpus_per_worker=self.ray_cpus_per_worker,
        )

    @property
    def api_base_url(self) -> str:
        """Where clients reach the API: the setting, else the address it listens on."""
        if self.api_public_url:
            return self.api_public_url.rstrip("/")
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::") else self.api_host
        return f"http://{host}:{self.api_port or 8765}"

    @property
    def defaults(self) -> Defaults:
        """What a job gets where it leaves a value out, and the retry budget it may not exceed."""
        models = self.models_config
        return Defaults(
            steps=self.default_steps,
            sampler=self.default_sampler,
            min_identity=self.min_identity,
            max_tries=self.max_tries,
            tries_budget=self.max_tries,
            styles=self.styles,
            model=models.default,
            clip_skips={n: c.clip_skip for n, c in models.models.items() if c.clip_skip is not None},
            speed=self.default_speed,
            distilled={n: c.distilled for n, c in models.models.items() if c.distilled is not None},
        )

    @property
    def face_config(self) -> FaceConfig:
        # insightface runs on CUDA when the bot uses the GPU
        return FaceConfig(self.face_backend, self.resolved_face_model_dir, self.face_det_size, self.device)

    @property
    def engine_config(self) -> EngineConfig:
        """The default model's configuration (the only one without ``LIKENESS_MODELS``)."""
        return self.models_config.default_config

    @property
    def models_config(self) -> ModelsConfig:
        """Every model jobs may choose, each with the settings it overrides applied."""
        budget = model_budget(self.model_cache)
        if not self.models:
            return replace(ModelsConfig.single(self._engine_config({})), budget=budget)
        configs = {name: self._engine_config(model_entry(name, spec)) for name, spec in self.models.items()}
        configs = {name: replace(config, name=name) for name, config in configs.items()}
        default = self.default_model or next(iter(configs))
        if default not in configs:
            raise SettingsInvalid(
                f"invalid setting LIKENESS_DEFAULT_MODEL={default!r}: choose one of {', '.join(configs)}"
            )
        return ModelsConfig(configs, default, budget)

    def _engine_config(self, given: Mapping[str, Any]) -> EngineConfig:
        """One model's configuration: the bot-wide settings, with what its LIKENESS_MODELS entry sets."""

        def value(key: str, default: Any) -> Any:
            return given.get(key, default)

        def enabled(where: str) -> bool:
            return where.strip().lower() not in DISABLED

        ip_where = value("ip_adapter", self.ip_adapter)
        ip = (
            AdapterSource(
                ip_where,
                value("ip_adapter_subfolder", self.ip_adapter_subfolder),
                value("ip_adapter_weight", self.ip_adapter_weight),
            )
            if enabled(ip_where)
            else None
        )
        faceid_where = value("faceid_adapter", self.faceid_adapter)
        faceid = (
            AdapterSource(
                faceid_where,
                value("faceid_subfolder", self.faceid_subfolder),
                value("faceid_weight", self.faceid_weight),
            )
            if enabled(faceid_where)
            else None
        )
        controlnets: dict[str, str] = {
            str(kind): where.strip()
            for kind in (Structure.CANNY, Structure.DEPTH)
            if enabled(where := value(f"controlnet_{kind}", getattr(self, f"controlnet_{kind}")))
        }
        vae = value("vae", self.vae).strip()
        return EngineConfig(
            model=value("model", self.model),
            model_config=value("config", self.checkpoint_config),
            offline=self.offline,
            inpaint_model=value("inpaint_model", self.inpaint_model),
            vae=vae if enabled(vae) else None,
            clip_skip=value("clip_skip", None),
            distilled=distilled_entry(str(value("model", self.model)), given["distilled"])
            if "distilled" in given
            else None,
            accelerators=self.accelerators,
            device=self.device,
            dtype=self.dtype,
            resolution=self.resolution,
            ip_adapter=ip,
            faceid_adapter=faceid,
            lora_dir=self.lora_dir,
            embedding_dir=self.embedding_dir,
            lora_cache_bytes=self.lora_cache_mb * MB,
            styles=self.styles,
            controlnets=controlnets,
            depth_model=self.depth_model_enabled,
            caption_model=self.caption_model_enabled,
            nsfw_model=self.nsfw_model_enabled,
            upscaler=self.upscaler_enabled,
            acceleration=self.acceleration,
        )

    @property
    def acceleration(self) -> Acceleration:
        """Step cache, VRAM fit and compile; a combination the engine cannot take stops start-up."""
        chosen = Acceleration(StepCache(self.step_cache), Vram(self.vram), self.compile, self.compile_mode)
        return chosen.check()


def _env_name(field: str) -> str:
    if field == "discord_token":
        return "DISCORD_TOKEN"
    if field == "checkpoint_config":
        return "LIKENESS_MODEL_CONFIG"
    return f"LIKENESS_{field.upper()}"


def load_settings(env_file: Path | str | None = ".env", **overrides: Any) -> Settings:
    """Read settings; turn pydantic's report into one line that names the setting."""
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        value = "***" if field in _SECRETS else first.get("input")
        raise SettingsInvalid(f"invalid setting {_env_name(field)}={value!r}: {first['msg']}") from None


_SECRETS = frozenset(
    name for name, info in Settings.model_fields.items() if SecretStr in get_args(info.annotation)
)
"""Settings whose value an error line never shows."""
