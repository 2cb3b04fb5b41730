"""The engine's speed and memory settings, as plain data, and the combinations refused at start.

``LIKENESS_STEP_CACHE`` (``bot.engine.step_cache``), ``LIKENESS_VRAM`` (``bot.engine.vram``) and
``LIKENESS_COMPILE`` (``bot.engine.compile``) each live in their own module; this one holds only what
settings and the engine configuration need, without importing torch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.errors import SettingsInvalid


class StepCache(enum.StrEnum):
    """The levels an operator chooses from: how many steps reuse one full step's deep features."""

    OFF = "off"
    LIGHT = "light"
    MEDIUM = "medium"
    STRONG = "strong"

    @property
    def on(self) -> bool:
        return self is not StepCache.OFF

    @property
    def interval(self) -> int:
        """Every ``interval``-th step runs the whole UNet; the ones between reuse its deep features."""
        return _INTERVALS[self]


_INTERVALS = {StepCache.OFF: 1, StepCache.LIGHT: 2, StepCache.MEDIUM: 3, StepCache.STRONG: 5}
STEP_CACHE_BRANCH = 0  # DeepCache's shallowest skip branch: the most reuse (its own example's choice)


class Vram(enum.StrEnum):
    """``high``: every weight stays on the card; ``low``: model offload, VAE tiling and slicing;
    ``auto``: ``low`` when the card's memory is short of what the model needs."""

    AUTO = "auto"
    HIGH = "high"
    LOW = "low"


DEFAULT_COMPILE_MODE = "max-autotune-no-cudagraphs"
"""torch.compile's autotuned kernels without CUDA graphs, which would hold memory for every shape."""
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True, slots=True)
class Acceleration:
    step_cache: StepCache = StepCache.OFF
    vram: Vram = Vram.AUTO
    compile: bool = False
    compile_mode: str = DEFAULT_COMPILE_MODE

    def check(self) -> Acceleration:
        """Itself, or ``SettingsInvalid`` in one line naming a combination the engine cannot take."""
        if self.compile and self.step_cache.on:
            raise SettingsInvalid(
                f"invalid settings LIKENESS_STEP_CACHE={self.step_cache.value} with LIKENESS_COMPILE=1: "
                "DeepCache swaps the UNet's block forwards at every step, which a compiled UNet cannot "
                "take; turn one of them off"
            )
        if self.compile and self.vram is Vram.LOW:
            raise SettingsInvalid(
                "invalid settings LIKENESS_VRAM=low with LIKENESS_COMPILE=1: model offload moves the "
                "UNet on and off the card inside its forward, which a compiled UNet cannot take; "
                "turn one of them off"
            )
        if self.compile_mode not in COMPILE_MODES:
            raise SettingsInvalid(
                f"invalid setting LIKENESS_COMPILE_MODE={self.compile_mode!r}: choose one of "
                + ", ".join(COMPILE_MODES)
            )
        return self
