"""The NSFW check on every output: an image classifier through transformers (``LIKENESS_NSFW_MODEL``).

Only SD 1.5 checkpoints from the hub carry a safety checker; SDXL, most community checkpoints and
every single file have none. So the engine scores each job's kept candidates itself, in one batch,
whatever the model; the bot then decides where a flagged image may go (``bot.nsfw_policy``). The
score is the classifier's probability of its ``nsfw`` label. Loaded once, shared by every model's
engine (it does not depend on the checkpoint), on the engine's device.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from bot.errors import ModelUnavailable

log = logging.getLogger(__name__)

SETTING = "LIKENESS_NSFW_MODEL"
DEFAULT_MODEL = "Falconsai/nsfw_image_detection"  # ViT, Apache-2.0, labels normal / nsfw
LABEL = "nsfw"


class NsfwClassifier:
    """An image-classification model whose labels include ``nsfw``, loaded on first use, once."""

    def __init__(
        self, model: str, device: str = "cpu", offline: bool = False, dtype: torch.dtype = torch.float32
    ) -> None:
        self.model, self.device, self.offline, self.dtype = model, device, offline, dtype
        self._loaded: tuple[Any, Any, int] | None = None
        self._lock = threading.Lock()

    def load(self) -> tuple[Any, Any, int]:
        """(image processor, model, index of the ``nsfw`` label); ModelUnavailable says what to fix."""
        with self._lock:
            if self._loaded is None:
                from transformers import AutoImageProcessor, AutoModelForImageClassification

                try:
                    processor = AutoImageProcessor.from_pretrained(self.model, local_files_only=self.offline)
                    model = AutoModelForImageClassification.from_pretrained(
                        self.model, local_files_only=self.offline, dtype=self.dtype
                    )
                except (OSError, ValueError) as exc:
                    raise ModelUnavailable(
                        f"cannot load the NSFW classifier {self.model!r} ({_reason(self.model, exc)}): point "
                        f"{SETTING} at an image-classification model (hub id or folder) with an "
                        f"{LABEL!r} label, or set {SETTING}=none to rely on the model's own safety checker"
                    ) from exc
                labels = {str(name).lower(): int(i) for i, name in model.config.id2label.items()}
                if LABEL not in labels:
                    raise ModelUnavailable(
                        f"the NSFW classifier {self.model!r} has no {LABEL!r} label (its labels: "
                        f"{', '.join(sorted(labels))}): choose a model trained to flag NSFW images"
                    )
                self._loaded = (processor, model.to(self.device).eval(), labels[LABEL])
                log.info("NSFW check: classifier %s loaded", self.model)
            return self._loaded

    def scores(self, images: list[Image.Image]) -> list[float]:
        """The probability of ``nsfw`` for each image, in one batch."""
        if not images:
            return []
        processor, model, index = self.load()
        inputs = processor(images=[image.convert("RGB") for image in images], return_tensors="pt")
        with torch.inference_mode():
            logits = model(pixel_values=inputs["pixel_values"].to(self.device, model.dtype)).logits
        probabilities = logits.float().softmax(dim=-1)[:, index]
        return [float(p) for p in probabilities]


def _reason(model: str, exc: Exception) -> str:
    local = Path(model).expanduser()
    if local.is_absolute() and not local.exists():
        return f"no such folder {local}"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
