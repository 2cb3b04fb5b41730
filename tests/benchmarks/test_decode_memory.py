"""``benchmarks/decode_memory.py``: what one upload's check adds to a process at its peak, measured
as the benchmark does (a fresh process, the kernel's high-water mark), on a 10 MP picture."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "decode_memory.py"
SIZE = (4000, 2500)
PICTURE = SIZE[0] * SIZE[1] * 4  # Pillow keeps RGB and RGBA at 4 bytes a pixel


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("decode_memory_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _png(orientation: int | None) -> bytes:
    ramp = np.linspace(0, 255, SIZE[0], dtype=np.float32).astype(np.uint8)[None, :].repeat(SIZE[1], axis=0)
    band = Image.fromarray(ramp, "L")
    image = Image.merge("RGBA", [band, band, Image.new("L", SIZE, 90), band])
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif)
    return buffer.getvalue()


def test_an_upright_picture_is_decoded_once_and_a_turned_one_twice(tmp_path: Path) -> None:
    """The decoded picture is not copied on its way to the clean copy: one picture's worth of pixels
    (and a second only while a turned one turns)."""
    measure = _module().measure
    upright = measure(_png(None), None, tmp_path)
    assert upright < 1.5 * PICTURE, f"{upright / 2**20:.0f} MB for a {PICTURE / 2**20:.0f} MB picture"
    turned = measure(_png(6), None, tmp_path)
    assert turned < 2.5 * PICTURE, f"{turned / 2**20:.0f} MB for a {PICTURE / 2**20:.0f} MB picture"
