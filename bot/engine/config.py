"""What the engine needs from the settings, as plain frozen data (no pydantic in the engine)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Settings


@dataclass(frozen=True, slots=True)
class AdapterSource:
    """Where ``load_ip_adapter`` finds one adapter: a hub id or local folder, subfolder, file name."""

    location: str
    subfolder: str
    weight_name: str


@dataclass(frozen=True, slots=True)
class EngineConfig:
    model: str
    device: str = "auto"
    dtype: str = "auto"
    resolution: int | None = None
    ip_adapter: AdapterSource | None = None
    faceid_adapter: AdapterSource | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        ip = (
            AdapterSource(settings.ip_adapter, settings.ip_adapter_subfolder, settings.ip_adapter_weight)
            if settings.ip_adapter_enabled
            else None
        )
        faceid = (
            AdapterSource(settings.faceid_adapter, settings.faceid_subfolder, settings.faceid_weight)
            if settings.faceid_enabled
            else None
        )
        return cls(
            model=settings.model,
            device=settings.device,
            dtype=settings.dtype,
            resolution=settings.resolution,
            ip_adapter=ip,
            faceid_adapter=faceid,
        )
