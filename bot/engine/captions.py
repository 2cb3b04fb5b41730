"""Captions of an image from Florence-2 (``/describe``), which ``bot.engine.suggest`` turns into prompts.

The model is loaded on first use, once, behind a lock: ``/describe`` is rare, and most deployments
should not pay for a captioning model they never call. Generation is greedy beam search with bounded
lengths, so the same image always gets the same captions and a request cannot run away.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from bot.engine.suggest import Captions
from bot.errors import ModelUnavailable

log = logging.getLogger(__name__)

SETTING = "LIKENESS_CAPTION_MODEL"
SHORT_TOKENS = 40  # a one-line caption
DETAILED_TOKENS = 120  # a paragraph, still well inside CLIP's 75-token window once trimmed by suggest
NUM_BEAMS = 3  # Florence-2's own generation default


class Captioner:
    """Florence-2 captions of an image, the model loaded lazily and once."""

    def __init__(
        self, model: str, device: str = "cpu", offline: bool = False, dtype: torch.dtype = torch.float32
    ) -> None:
        self.model, self.device, self.offline = model, device, offline
        self.dtype = dtype  # the engine's: half precision on a GPU, as the diffusion model
        self._loaded: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    def load(self) -> tuple[Any, Any]:
        """(processor, model), loading them on the first call; ModelUnavailable says how to fix it."""
        with self._lock:
            if self._loaded is None:
                from transformers import AutoProcessor, Florence2ForConditionalGeneration

                try:
                    processor = AutoProcessor.from_pretrained(self.model, local_files_only=self.offline)
                    model = Florence2ForConditionalGeneration.from_pretrained(
                        self.model, local_files_only=self.offline, dtype=self.dtype
                    )
                except (OSError, ValueError) as exc:
                    local = Path(self.model).expanduser()
                    reason = (
                        f"no such folder {local}"
                        if local.is_absolute() and not local.exists()
                        else (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    )
                    raise ModelUnavailable(
                        f"cannot load the caption model {self.model!r} ({reason}): point {SETTING} at a "
                        f"Florence-2 folder or hub id, set {SETTING}=none to turn describe off, or build "
                        "a tiny offline bundle with python -m bot tiny-models DIR"
                    ) from exc
                # PreTrainedModel.to is wrapped with functools.wraps, whose typeshed type is no method:
                # mypy takes the device for ``self``.
                self._loaded = (processor, model.to(self.device).eval())  # type: ignore[arg-type]
                log.info("captions: model %s loaded", self.model)
            return self._loaded

    def captions(self, image: Image.Image, detail: bool = False) -> Captions:
        """Short and detailed captions; ``detail`` asks for ``<MORE_DETAILED_CAPTION>`` instead of the
        detailed one (the other field is then empty, so each call runs two tasks, not three)."""
        picture = image.convert("RGB")
        short = self._run(picture, "<CAPTION>", SHORT_TOKENS)
        task = "<MORE_DETAILED_CAPTION>" if detail else "<DETAILED_CAPTION>"
        longer = self._run(picture, task, DETAILED_TOKENS)
        if detail:
            return Captions(short=short, detailed="", more_detailed=longer)
        return Captions(short=short, detailed=longer, more_detailed="")

    def _run(self, image: Image.Image, task: str, max_new_tokens: int) -> str:
        processor, model = self.load()
        inputs = processor(text=task, images=image, return_tensors="pt")
        with torch.inference_mode():
            generated = model.generate(
                input_ids=inputs["input_ids"].to(self.device),
                pixel_values=inputs["pixel_values"].to(self.device, model.dtype),
                max_new_tokens=max_new_tokens,
                num_beams=NUM_BEAMS,
                do_sample=False,
            )
        texts = processor.batch_decode(generated, skip_special_tokens=True)
        return texts[0].strip() if texts else ""
