"""A tiny super-resolution model in Real-ESRGAN's own file layout: an RRDBNet with one block.

The keys are those of ``RealESRGAN_x4plus.pth`` (``params_ema`` holding ``conv_first``,
``body.N.rdbK.convM``, ``conv_body``, ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``), so the
bot reads it through spandrel's real loader as it reads the real file; only the sizes are smaller
(16 features instead of 64, one block instead of 23; the growth stays Real-ESRGAN's 32). The last
bias is mid-grey and the weights are large enough that the output follows the input, so tiled and
untiled runs can be compared pixel by pixel.
"""

from __future__ import annotations

from pathlib import Path

import torch

FILE = "tiny-RealESRGAN_x4plus.pth"
FEATURES = 16
GROWTH = 32  # spandrel's RRDBNet builds its dense blocks with Real-ESRGAN's growth of 32
BLOCKS = 1


def _conv(state: dict[str, torch.Tensor], name: str, out: int, inp: int, generator: torch.Generator) -> None:
    fan_in = inp * 9
    state[f"{name}.weight"] = torch.randn(out, inp, 3, 3, generator=generator) * (1.0 / fan_in) ** 0.5
    state[f"{name}.bias"] = torch.zeros(out)


def tiny_rrdbnet_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """The state dict of a 4× RRDBNet, Real-ESRGAN's new-arch key names."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    _conv(state, "conv_first", FEATURES, 3, generator)
    for block in range(BLOCKS):
        for rdb in (1, 2, 3):
            for k in range(1, 6):
                out = FEATURES if k == 5 else GROWTH
                _conv(state, f"body.{block}.rdb{rdb}.conv{k}", out, FEATURES + (k - 1) * GROWTH, generator)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        _conv(state, name, FEATURES, FEATURES, generator)
    _conv(state, "conv_last", 3, FEATURES, generator)
    state["conv_last.bias"] = torch.full((3,), 0.5)
    return state


def save_tiny_upscaler(folder: Path) -> Path:
    """Write the model as Real-ESRGAN ships it (a ``.pth`` of ``{"params_ema": state}``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE
    torch.save({"params_ema": tiny_rrdbnet_state()}, path)
    return path
