"""Telling an out-of-memory error from the rest, without importing torch: the LoRA library and the
command line's checks use this too, and neither loads torch for it."""

from __future__ import annotations

import sys

from bot.errors import LikenessError

_OOM_MESSAGES = ("out of memory", "can't allocate memory", "failed to allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA raises ``torch.OutOfMemoryError``, numpy and PIL ``MemoryError``; MPS, torch's CPU allocator
    and onnxruntime raise their own errors whose message says so. Our own errors never count."""
    if isinstance(exc, LikenessError):
        return False
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # a torch error needs torch loaded
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    return any(text in str(exc).lower() for text in _OOM_MESSAGES)
