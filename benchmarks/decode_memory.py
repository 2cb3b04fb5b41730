"""Peak memory of checking one upload: the decode, conversion and clean re-encode of a worst-case
40 MP picture (the header limit), as ``check_uploads`` does it before a job row exists.

Each case runs in a fresh process: its input is read from disk, then the kernel's high-water mark of
resident memory (``VmHWM``) is reset and read again after the check, so the figure is what one
request adds (Pillow's pixel buffers included, which ``tracemalloc`` does not see). Run from the
repository root; prints a Markdown table::

    python benchmarks/decode_memory.py [--case NAME]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import io
import subprocess
import tempfile

import numpy as np
from PIL import Image

SIZE = (8000, 5000)  # 40 MP, 1.6:1: the largest picture the header check lets through
MB = 2**20


def _gradient(mode: str) -> Image.Image:
    """A smooth picture (small file, full decode cost): each channel a ramp."""
    w, h = SIZE
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h // 100, axis=0).astype(np.uint8)
    band = Image.fromarray(ramp, "L").resize(SIZE, Image.Resampling.NEAREST)
    if mode == "L":
        return band
    channels = [band, band.transpose(Image.Transpose.FLIP_LEFT_RIGHT), Image.new("L", SIZE, 128)]
    if mode == "RGBA":
        channels.append(band)
    return Image.merge(mode, channels)


def _png(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **params)
    return buffer.getvalue()


def _inputs() -> dict[str, tuple[bytes, bytes | None]]:
    """Each case: (image, mask or None)."""
    rgb = _gradient("RGB")
    jpeg = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the upright copy is one more full image
    rgb.save(jpeg, "JPEG", quality=90, exif=exif)
    grey16 = Image.fromarray(np.asarray(_gradient("L"), dtype=np.uint16) * 257)
    palette = rgb.quantize(64)
    mask = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    mask.paste((255, 255, 255, 255), (2000, 1000, 6000, 4000))
    rgba = _gradient("RGBA")
    return {
        "RGBA PNG": (_png(rgba), None),
        "rotated RGBA PNG (EXIF 6)": (_png(rgba, exif=exif), None),
        "palette PNG with transparency": (_png(palette, transparency=0), None),
        "16-bit greyscale PNG": (_png(grey16), None),
        "rotated JPEG (EXIF 6)": (jpeg.getvalue(), None),
        "RGB PNG + RGBA mask (inpaint)": (_png(rgb), _png(mask)),
    }


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from bot.engine.uploads import check_uploads
from bot.params import JobParams, Mode

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

image = Path({image!r}).read_bytes()
mask = Path({mask!r}).read_bytes() if {mask!r} else None
params = JobParams(prompt="x", mode=Mode.INPAINT if mask else Mode.IMG2IMG)
Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
before = status("VmRSS")
check_uploads(params, image, mask)
print(status("VmHWM") - before)
"""


def measure(image: bytes, mask: bytes | None, folder: Path) -> int:
    """Bytes one check of ``image`` (and ``mask``) adds to a fresh process's resident memory at its peak."""
    image_path, mask_path = folder / "image", folder / "mask"
    image_path.write_bytes(image)
    if mask is not None:
        mask_path.write_bytes(mask)
    root = str(Path(__file__).resolve().parent.parent)
    code = _CHILD.format(root=root, image=str(image_path), mask=str(mask_path) if mask else "")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", help="only the case whose name contains this")
    args = parser.parse_args()
    print(f"| case ({SIZE[0]}×{SIZE[1]}) | file MB | peak MB |")
    print("| --- | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (image, mask) in _inputs().items():
            if args.case and args.case.lower() not in name.lower():
                continue
            size = (len(image) + len(mask or b"")) / MB
            peak = measure(image, mask, Path(tmp)) / MB
            print(f"| {name} | {size:.1f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
