"""``benchmarks/device_memory.py``: the card's peak counted on the CPU, from working tensors (allocated
until their last view is gone) and the weights accelerate's offload hooks would hold on the card."""

from __future__ import annotations

import accelerate.hooks
import torch
from accelerate import cpu_offload_with_hook

from benchmarks.device_memory import DeviceMemory, counting

MB = 2**20


def test_working_tensors_count_until_their_last_view_is_gone() -> None:
    memory = DeviceMemory(lambda: 0)
    with counting(memory):
        a = torch.zeros(MB // 4)  # 1 MB of float32
        view = a[: MB // 8]
        b = torch.ones(MB // 2)  # 2 MB
        assert memory.working == 3 * MB
        del a
        assert memory.working == 3 * MB  # the view keeps the storage
        del view, b
        assert memory.working == 0
        c = torch.zeros(MB // 4)
        del c
    assert memory.peak == 3 * MB


def test_the_weights_on_the_card_follow_the_offload_chain() -> None:
    first, second = torch.nn.Linear(256, 256), torch.nn.Linear(256, 1024)  # 257 KB and 1.03 MB
    _, hook = cpu_offload_with_hook(first, "cpu")
    cpu_offload_with_hook(second, "cpu", prev_module_hook=hook)
    memory = DeviceMemory()
    size = lambda module: sum(p.numel() * 4 for p in module.parameters())  # noqa: E731
    with counting(memory), torch.no_grad():
        assert memory.weights() == 0
        hidden = first(torch.zeros(1, 256))
        assert memory.weights() == size(first)
        second(hidden)
        assert memory.weights() == size(second)  # the previous model in the chain went off the card
    assert memory.peak >= size(second)
    assert accelerate.hooks.CpuOffload.pre_forward.__name__ == "pre_forward"  # put back after counting
