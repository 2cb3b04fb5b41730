"""A1111's sampler and schedule-type names as diffusers schedulers (diffusers' own mapping table,
docs/api/schedulers/overview, with DPM++ SDE as k-diffusion's stochastic sampler it names).

Each job gets a fresh scheduler built from the model's own scheduler config (its betas, prediction
type and timestep offset), so nothing of one job's schedule state reaches the next, and the
pipelines that share weights (``from_pipe``) keep the model's scheduler between jobs.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import diffusers

from bot.choices import AUTOMATIC, SAMPLER_SCHEDULES

log = logging.getLogger(__name__)

# sampler -> (diffusers class, its options for that sampler)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "DPM++ SDE": ("DPMSolverSDEScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    "PLMS": ("PNDMScheduler", {"skip_prk_steps": True}),
    "LCM": ("LCMScheduler", {}),
}
# schedule type -> the options that space the noise levels so
SPACINGS: dict[str, dict[str, Any]] = {
    "Uniform": {"use_karras_sigmas": False, "use_exponential_sigmas": False},
    "Karras": {"use_karras_sigmas": True, "use_exponential_sigmas": False},
    "Exponential": {"use_karras_sigmas": False, "use_exponential_sigmas": True},
    "SGM Uniform": {
        "use_karras_sigmas": False,
        "use_exponential_sigmas": False,
        "timestep_spacing": "trailing",
    },
}
# options a model's config may hold that would override the sampler's: they are the sampler's to set
_SAMPLER_KEYS = (
    "algorithm_type",
    "solver_order",
    "use_karras_sigmas",
    "use_exponential_sigmas",
    "use_beta_sigmas",
)


def schedule_of(sampler: str, schedule: str | None) -> str:
    """The schedule type a job runs: Automatic (or none) is the sampler's own."""
    return SAMPLER_SCHEDULES[sampler][0] if schedule in (None, AUTOMATIC) else str(schedule)


def build_scheduler(model_config: Mapping[str, Any], sampler: str, schedule: str | None, seed: int) -> Any:
    """A new diffusers scheduler for ``sampler`` with ``schedule``, on the model's own config."""
    name, options = SCHEDULERS[sampler]
    cls = getattr(diffusers, name)
    base = {k: v for k, v in model_config.items() if not k.startswith("_") and k not in _SAMPLER_KEYS}
    spacing = SPACINGS[schedule_of(sampler, schedule)]
    accepted = set(inspect.signature(cls.__init__).parameters)
    extra = {k: v for k, v in {**options, **spacing}.items() if k in accepted}
    if "noise_sampler_seed" in accepted:  # DPM++ SDE draws its Brownian noise from a seed of its own
        extra["noise_sampler_seed"] = seed
    return cls.from_config({k: v for k, v in base.items() if k in accepted}, **extra)


@contextlib.contextmanager
def using(pipe: Any, scheduler: Any) -> Iterator[None]:
    """``scheduler`` on ``pipe`` for one call, the model's own one back afterwards."""
    own = pipe.scheduler
    pipe.scheduler = scheduler
    try:
        yield
    finally:
        pipe.scheduler = own
