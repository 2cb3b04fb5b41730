"""A card's peak memory, counted on the CPU: what ``torch.cuda.max_memory_allocated`` would say.

The CPU has no device allocator to ask, and every weight lives in one memory there, so a peak is
counted from two parts, each as the CUDA caching allocator counts its allocated bytes:

- **working tensors**: a ``TorchDispatchMode`` sees every op's outputs; each new storage's bytes
  count from its allocation until the last tensor viewing it is gone (a ``weakref`` finaliser per
  tensor). That is what ``max_memory_allocated`` counts (not the allocator's cached reserve, the
  CUDA context or cuBLAS workspaces, which add a few hundred MB on a real card).
- **weights on the card**: all of them for ``LIKENESS_VRAM=high``; under model offload, the models
  accelerate's hooks have put on the execution device. On the CPU the hooks move nothing (the
  device already is the CPU, so ``CpuOffload.pre_forward`` skips even the previous model's
  offload), so the counter follows their logic instead: a model's forward puts it on the card and
  takes the previous one in the chain off, and ``enable_model_cpu_offload`` (run again by diffusers at
  the end of every call) takes them all off.

The peak is the largest sum of the two, checked at every allocation and every onload.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import accelerate.hooks
import torch
from diffusers import DiffusionPipeline
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from bot.engine.device import tensor_bytes


class DeviceMemory(TorchDispatchMode):
    """Counts working tensors and on-card weights while entered; ``peak`` in bytes."""

    def __init__(self, all_weights: Callable[[], int] | None = None) -> None:
        """``all_weights``: the bytes every weight holds, when they all stay on the card (``high``);
        None: count the models the offload hooks put there."""
        super().__init__()
        self._all_weights = all_weights
        self._on_card: dict[int, torch.nn.Module] = {}
        self._refs: dict[int, int] = {}
        self._sizes: dict[int, int] = {}
        self.working = 0
        self.peak = 0

    def weights(self) -> int:
        if self._all_weights is not None:
            return self._all_weights()
        return tensor_bytes(self._on_card.values())

    def reset(self) -> None:
        self.peak = self.working + self.weights()

    def _check(self) -> None:
        self.peak = max(self.peak, self.working + self.weights())

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self._track(leaf)
        return out

    def _track(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key == 0:
            return
        if key not in self._refs:
            self._refs[key], self._sizes[key] = 0, storage.nbytes()
            self.working += self._sizes[key]
            self._check()
        self._refs[key] += 1
        weakref.finalize(tensor, self._release, key)

    def _release(self, key: int) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            self.working -= self._sizes.pop(key)
            del self._refs[key]

    # -- the offload hooks' logic, as it runs on a card ---------------------------------------------
    def onload(self, hook: Any, module: torch.nn.Module) -> None:
        previous = getattr(hook, "prev_module_hook", None)
        if isinstance(previous, accelerate.hooks.UserCpuOffloadHook):
            self._on_card.pop(id(previous.model), None)
        self._on_card[id(module)] = module
        self._check()

    def offload_all(self) -> None:
        self._on_card.clear()


@contextlib.contextmanager
def counting(memory: DeviceMemory) -> Iterator[DeviceMemory]:
    """Count while the body runs: the dispatch mode on, the offload hooks followed."""
    pre_forward = accelerate.hooks.CpuOffload.pre_forward
    enable = DiffusionPipeline.enable_model_cpu_offload

    def followed_pre_forward(hook: Any, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        memory.onload(hook, module)
        return pre_forward(hook, module, *args, **kwargs)

    def followed_enable(pipe: Any, *args: Any, **kwargs: Any) -> Any:
        memory.offload_all()
        return enable(pipe, *args, **kwargs)

    accelerate.hooks.CpuOffload.pre_forward = followed_pre_forward  # type: ignore[method-assign]
    DiffusionPipeline.enable_model_cpu_offload = followed_enable  # type: ignore[method-assign]
    try:
        with memory:
            yield memory
    finally:
        accelerate.hooks.CpuOffload.pre_forward = pre_forward  # type: ignore[method-assign]
        DiffusionPipeline.enable_model_cpu_offload = enable  # type: ignore[method-assign]
