"""Structure maps: what a ControlNet keeps of the reference (``structure:canny|depth``).

Canny edges are computed here with OpenCV (installed with insightface); depth comes from a
depth-estimation model through transformers, loaded once on first use. Both return an RGB image the
size of the input, which the result's **Show structure** button shows as it was used.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import cv2
import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

CANNY_LOW, CANNY_HIGH = 100, 200  # the thresholds the SD ControlNets' canny maps were made with


def canny_map(image: Image.Image, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> Image.Image:
    """White edges on black, three channels, as ControlNet canny models were trained on."""
    gray = np.asarray(image.convert("L"))
    edges = cv2.Canny(gray, low, high)
    return Image.fromarray(np.stack([edges] * 3, axis=-1))


class DepthEstimator:
    """A transformers depth-estimation pipeline (Depth Anything V2 by default), loaded on first use."""

    def __init__(self, model: str, device: str = "cpu", offline: bool = False) -> None:
        self.model, self.device, self.offline = model, device, offline
        self._pipe: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._pipe is None:
                from transformers import pipeline

                self._pipe = pipeline(
                    "depth-estimation",
                    model=self.model,
                    device=self.device,
                    local_files_only=self.offline,  # pipeline() passes it to the config and the weights
                )
                log.info("structure: depth model %s loaded", self.model)
            return self._pipe

    def depth_map(self, image: Image.Image) -> Image.Image:
        """Near is bright, as depth ControlNets expect; the size of ``image``."""
        depth: Image.Image = self.load()(image.convert("RGB"))["depth"]
        return depth.convert("RGB").resize(image.size, Image.Resampling.BICUBIC)
