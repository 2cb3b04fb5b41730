"""Step caching (``LIKENESS_STEP_CACHE``): DeepCache reuses the UNet's deep features between steps.

DeepCache (the authors' package on PyPI) swaps the ``forward`` of the UNet and its blocks for ones
that, on all but every N-th step, return the deep blocks' outputs from the last full step and run
only the shallow branch. diffusers' own cache hooks (``diffusers.hooks``) cover transformer models
only: ``UNet2DConditionModel`` has no ``enable_cache``, so DeepCache it is.

The helper is enabled around one pipeline call and disabled after it, never left on: it reads the
step from the calling pipeline's scheduler (a job installs its own, and the modes share one UNet),
and it counts steps from the first one it sees (img2img starts part-way). Off installs nothing, so a
job runs exactly as without this module.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch

from bot.engine.acceleration import STEP_CACHE_BRANCH, StepCache

log = logging.getLogger(__name__)


@contextlib.contextmanager
def cached_steps(pipe: Any, level: StepCache) -> Iterator[None]:
    """While one call of ``pipe`` runs: DeepCache on its UNet at ``level``; nothing at all when off."""
    if not level.on:
        yield
        return
    from DeepCache import DeepCacheSDHelper

    helper = DeepCacheSDHelper(pipe=pipe)
    helper.set_params(cache_interval=level.interval, cache_branch_id=STEP_CACHE_BRANCH)
    helper.enable()
    try:
        yield
    finally:
        helper.disable()
        _forget_wrappers(pipe.unet)


def _forget_wrappers(unet: torch.nn.Module) -> None:
    """DeepCache's ``disable`` puts each original ``forward`` back as an instance attribute; drop the
    ones that are just the class's own method again, so the UNet is left exactly as it was."""
    for module in unet.modules():
        own = module.__dict__.get("forward")
        if own is not None and getattr(own, "__func__", None) is type(module).forward:
            del module.__dict__["forward"]
