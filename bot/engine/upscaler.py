"""The super-resolution model (``LIKENESS_UPSCALER``), read by spandrel, run over tiles.

spandrel's ``ModelLoader`` knows the common architectures (ESRGAN and Real-ESRGAN, SwinIR, HAT, DAT
and more) from their ``.pth`` or ``.safetensors`` keys, so any file from a model site works. The
picture is cut into tiles with a margin (``TILE`` and ``PAD`` input pixels), each tile enlarged
alone and only its middle kept, so memory stays that of one tile at any picture size and the seams
match an untiled run (exactly, while the model's reach is within the margin).

Loaded on first use, once, behind a lock (like the captioner): most jobs never upscale.
"""

from __future__ import annotations

import enum
import logging
import math
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bot.engine.pickles import refuse_pickle
from bot.errors import Cancelled, ModelUnavailable

log = logging.getLogger(__name__)

SETTING = "LIKENESS_UPSCALER"
TILE = 192  # input pixels per tile side: about 0.6 GB of activations for a 23-block RRDBNet at 4×
PAD = 24  # input pixels of context around each tile, cut off after the model ran
WEIGHT_SUFFIXES = (".pth", ".safetensors", ".pt", ".ckpt")

TileProgress = Callable[[int, int], None]  # (tiles done, tiles in all)


def import_spandrel() -> types.ModuleType:
    """spandrel, which imports torchvision for two architectures it has (RestoreFormer, LaMa) that
    upscaling never uses. A torchvision wheel built for another torch (a CUDA torchvision beside the
    CPU torch, the only pair some machines can install) fails on import; then those two names are
    stood in for while spandrel imports, and every other architecture works as it is."""
    try:
        import torchvision  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except Exception as exc:  # RuntimeError "operator torchvision::nms does not exist", ImportError
        log.warning("torchvision does not import here (%s): RestoreFormer and LaMa models cannot load", exc)
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        stand_ins = _torchvision_stand_ins()
        sys.modules.update(stand_ins)
        try:
            import spandrel
        finally:
            for name in stand_ins:
                sys.modules.pop(name, None)
        return spandrel  # type: ignore[no-any-return]
    import spandrel

    return spandrel  # type: ignore[no-any-return]


class _InterpolationMode(enum.Enum):
    """The names LaMa's module reads at import (its own use needs the real torchvision)."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _torchvision_stand_ins() -> dict[str, types.ModuleType]:
    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ModelUnavailable("this model's architecture needs torchvision, which does not import here")

    root, transforms, functional = (
        types.ModuleType(n)
        for n in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")
    )
    functional.InterpolationMode = _InterpolationMode  # type: ignore[attr-defined]
    functional.normalize = unavailable  # type: ignore[attr-defined]
    functional.rotate = unavailable  # type: ignore[attr-defined]
    root.transforms = transforms  # type: ignore[attr-defined]
    transforms.functional = functional  # type: ignore[attr-defined]
    return {m.__name__: m for m in (root, transforms, functional)}


def locate(source: str, offline: bool) -> Path:
    """The model's file: a local path, or ``org/repo/file.pth`` from the Hugging Face hub (its cache
    only, when ``offline``)."""
    local = Path(source).expanduser()
    if local.is_file():
        return local
    parts = source.strip().split("/")
    if local.exists() or len(parts) < 3 or not source.lower().endswith(WEIGHT_SUFFIXES):
        raise ModelUnavailable(
            f"{SETTING}={source!r} is neither a model file nor a hub file (org/repo/name.pth): "
            f"name a .pth or .safetensors file, or set {SETTING}=none to turn upscaling off"
        )
    from huggingface_hub import hf_hub_download

    repo, name = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        return Path(hf_hub_download(repo, name, local_files_only=offline))
    except Exception as exc:
        how = "is not in the local hub cache (offline)" if offline else f"could not be downloaded ({exc})"
        raise ModelUnavailable(
            f"the upscaler {source} {how}: run `python -m bot fetch-models`, name a local file in "
            f"{SETTING}, or set it to none"
        ) from exc


class Upscaler:
    """One super-resolution model, loaded on first use."""

    def __init__(self, model: str, device: str = "cpu", offline: bool = False) -> None:
        self.model = model  # as configured: a path or a hub file
        self.device = torch.device(device)
        self.offline = offline
        self._descriptor: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """As A1111 names an upscaler in a PNG: the file's name without its extension."""
        stem = Path(self.model.replace("\\", "/")).name
        for suffix in WEIGHT_SUFFIXES:
            stem = stem.removesuffix(suffix)
        return stem

    def load(self) -> Any:
        with self._lock:
            if self._descriptor is None:
                path = locate(self.model, self.offline)
                refuse_pickle(path.name, SETTING)
                spandrel = import_spandrel()
                try:
                    descriptor = spandrel.ModelLoader(self.device).load_from_file(path)
                except Exception as exc:
                    raise ModelUnavailable(
                        f"{SETTING}: {path.name} is not a super-resolution model spandrel reads ({exc})"
                    ) from exc
                if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale < 2:
                    raise ModelUnavailable(f"{SETTING}: {path.name} does not enlarge pictures")
                descriptor.eval()
                self._descriptor = descriptor
                log.info("upscaler %s: %s %d×", self.name, descriptor.architecture.id, descriptor.scale)
        return self._descriptor

    @property
    def scale(self) -> int:
        return int(self.load().scale)

    def passes(self, factor: float) -> int:
        """How many runs of the model reach ``factor`` (a 2× model runs twice for 4×)."""
        return max(1, math.ceil(math.log(factor) / math.log(self.scale) - 1e-9))

    def tiles(self, size: tuple[int, int], factor: float, tile: int = TILE) -> int:
        """The tiles an upscale of ``size`` by ``factor`` runs, for progress."""
        total, (width, height) = 0, size
        for _ in range(self.passes(factor)):
            total += math.ceil(width / tile) * math.ceil(height / tile)
            width, height = width * self.scale, height * self.scale
        return total

    def upscale(
        self,
        image: Image.Image,
        factor: float,
        *,
        tile: int = TILE,
        pad: int = PAD,
        progress: TileProgress | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Image.Image:
        """``image`` ``factor`` times larger: the model's passes tile by tile, then a Lanczos resize
        to the exact size when the factor is not a power of the model's scale. ``tile`` 0: untiled."""
        target = (round(image.width * factor), round(image.height * factor))
        total, done = self.tiles(image.size, factor, tile or max(image.size) * 16), 0

        def tick() -> None:
            nonlocal done
            if stop is not None and stop():
                raise Cancelled()
            done += 1
            if progress is not None:
                progress(done, total)

        picture = image.convert("RGB")
        for _ in range(self.passes(factor)):
            picture = self._pass(picture, tile, pad, tick)
        if picture.size != target:
            picture = picture.resize(target, Image.Resampling.LANCZOS)
        return picture

    def _pass(self, image: Image.Image, tile: int, pad: int, tick: Callable[[], None]) -> Image.Image:
        descriptor = self.load()
        scale = int(descriptor.scale)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
        height, width = pixels.shape[1:]
        out = np.empty((height * scale, width * scale, 3), dtype=np.uint8)
        step = tile or max(width, height)
        for top in range(0, height, step):
            for left in range(0, width, step):
                bottom, right = min(top + step, height), min(left + step, width)
                y0, x0 = max(top - pad, 0), max(left - pad, 0)
                y1, x1 = min(bottom + pad, height), min(right + pad, width)
                piece = pixels[:, y0:y1, x0:x1].unsqueeze(0).to(self.device, torch.float32) / 255
                with torch.inference_mode():
                    result = descriptor(piece)[0].clamp(0, 1)
                keep = result[
                    :,
                    (top - y0) * scale : (bottom - y0) * scale,
                    (left - x0) * scale : (right - x0) * scale,
                ]
                out[top * scale : bottom * scale, left * scale : right * scale] = (
                    (keep * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
                )
                del piece, result, keep
                tick()
        return Image.fromarray(out, "RGB")
