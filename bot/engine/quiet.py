"""Keep the libraries' start-up notices that are not ours to act on out of the bot's log.

Each filter drops one known message and nothing else, so a new warning from a library still shows:
- transformers, on import without torchvision: each image processor falls back to its PIL version
  (what this project uses; torchvision cannot be installed beside the CPU torch build);
- diffusers 0.42, after ``load_ip_adapter``: "modules … that should be kept in float32: []", said
  even when that list is empty and the model already is in its target dtype;
- transformers, on the first prompt over 77 tokens: "Token indices sequence length is longer than the
  specified maximum … will result in indexing errors"; a long prompt is read in 77-token chunks
  (``bot.engine.weighting``), never as one sequence;
- peft, on every LoRA after the first: "Already found a `peft_config` … multiple adapters": several
  adapters side by side is how LoRAs are kept loaded here (``bot.engine.loras``).
Library progress bars are switched off while models load: the bot logs one line per model instead.
"""

from __future__ import annotations

import logging
import warnings


class _Drop(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


logging.getLogger("transformers.utils.import_utils").addFilter(_Drop("requires torchvision (not installed)"))
logging.getLogger("transformers.tokenization_utils_base").addFilter(
    _Drop("Token indices sequence length is longer than the specified maximum sequence length")
)
logging.getLogger("diffusers.models.modeling_utils").addFilter(_Drop("should be kept in float32: []."))
warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute", category=UserWarning)


def quiet_loading() -> None:
    """No per-file progress bars from diffusers and transformers while weights load."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
