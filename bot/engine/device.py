"""Pick the torch device and dtype: half precision only where it is fast and safe (CUDA)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

from bot.errors import SettingsInvalid

log = logging.getLogger(__name__)

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def resolve_device(device: str, dtype: str = "auto") -> tuple[torch.device, torch.dtype]:
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise SettingsInvalid(
            "invalid setting LIKENESS_DEVICE='cuda': this torch build sees no CUDA GPU "
            f"(torch {torch.__version__}); install a CUDA build of torch or use cpu"
        )
    elif device == "mps" and not torch.backends.mps.is_available():
        raise SettingsInvalid("invalid setting LIKENESS_DEVICE='mps': Apple MPS is not available here")
    chosen = _DTYPES[dtype] if dtype != "auto" else (torch.float16 if device == "cuda" else torch.float32)
    if device == "cpu" and chosen is torch.float16:
        raise SettingsInvalid(
            "invalid setting LIKENESS_DTYPE='float16': half precision is not supported on cpu"
        )
    log.debug("using device %s with %s", device, chosen)
    return torch.device(device), chosen


def release_memory(device: torch.device) -> None:
    """Give cached blocks back after a failure, so one bad job does not starve the next."""
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def tensor_bytes(modules: Iterable[torch.nn.Module]) -> int:
    """The bytes the modules' parameters and buffers hold, each tensor counted once however many
    modules share it (the modes' pipelines share one set of weights)."""
    seen: dict[int, int] = {}
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            seen.setdefault(tensor.data_ptr(), tensor.numel() * tensor.element_size())
    return sum(seen.values())
