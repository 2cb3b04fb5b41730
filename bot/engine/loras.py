"""Style LoRAs: the operator's folder of ``.safetensors`` files, and their use by one job at a time.

``LoraLibrary`` reads the folder (file headers only: names, family, key layout) and hashes a file
when a result names it. ``ActiveLoras`` loads a LoRA once into the shared pipelines (``from_pipe``
siblings share the modules, so once is enough), keeps it within a memory bound (least recently used
unloaded first), and sets each job's adapters and weights. Nothing is fused into the weights: a job
without LoRAs runs with them disabled, so no LoRA leaks into the next job.

Two formats, both as model sites and diffusers write them: kohya/A1111 (``lora_unet_…``,
``lora_te_…``; ``lora_te1_``/``lora_te2_`` on SDXL) and diffusers/PEFT (``unet.…``,
``text_encoder.…``, ``text_encoder_2.…``).
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.engine.family import Family
from bot.engine.folders import WeightFolder
from bot.engine.hashes import short_hash
from bot.engine.memory import is_out_of_memory
from bot.errors import InvalidRequest, OutOfMemory
from bot.params import LoraUse

log = logging.getLogger(__name__)

SUFFIX = ".safetensors"
KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")
DIFFUSERS_PREFIXES = ("unet.", "text_encoder.", "text_encoder_2.")
SDXL_MARKERS = (
    "lora_te1_",
    "lora_te2_",
    "text_encoder_2.",
    "lora_unet_input_blocks",
    "lora_unet_output_blocks",
)
# Widths of cross-attention inputs (a LoRA on attn2's to_k reads them): the real models' text widths.
CROSS_WIDTHS = {768: Family.SD15, 2048: Family.SDXL}


@dataclass(frozen=True, slots=True)
class LoraFile:
    """One LoRA in the folder, as its header says; ``problem`` says why it cannot be used."""

    name: str
    path: Path
    size: int
    family: Family | None  # None: the file does not say (then its widths are compared with the model's)
    cross_width: int | None  # the text width its cross-attention LoRA expects, when it has one
    problem: str | None = None

    @property
    def family_label(self) -> str:
        return self.family.label if self.family is not None else "unknown family"


class LoraLibrary:
    """The LoRA folder, read again whenever it changed (new, removed or rewritten files)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._folder = WeightFolder(folder, (SUFFIX,), _read_header, short_hash)

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def files(self) -> list[LoraFile]:
        """Every ``.safetensors`` file of the folder, by name; headers are read once per version."""
        return self._folder.files()

    def get(self, name: str) -> LoraFile:
        """The LoRA called ``name`` (case-insensitive), or ``InvalidRequest`` saying what exists."""
        if self.folder is None:
            raise InvalidRequest("LoRAs are not set up on this bot (the operator sets LIKENESS_LORA_DIR)")
        files = self.files()
        match = next((f for f in files if f.name.lower() == name.lower()), None)
        if match is None:
            known = ", ".join(f.name for f in files[:10]) or "none yet"
            raise InvalidRequest(f"there is no LoRA called “{name}”: /loras lists them ({known})")
        if match.problem is not None:
            raise InvalidRequest(f"the LoRA “{match.name}” cannot be used: {match.problem}")
        return match

    def check(self, uses: Sequence[LoraUse], family: Family | None) -> list[LoraFile]:
        """Each used LoRA exists, is readable and is of ``family`` (None: not known yet)."""
        files = [self.get(use.name) for use in uses]
        for lora in files:
            if family is not None and lora.family is not None and lora.family is not family:
                raise InvalidRequest(
                    f"the LoRA “{lora.name}” is made for {lora.family.label}, but this bot runs an "
                    f"{family.label} model: choose an {family.label} LoRA (/loras lists each one's family)"
                )
        return files

    def short_hash(self, lora: LoraFile) -> str:
        """A1111's short hash of the file (``bot.engine.hashes``; read once per file version)."""
        return self._folder.hash(lora.path)

    def outside(self, path: Path, name: str) -> LoraFile:
        """A LoRA file the engine adds itself (a speed's acceleration LoRA), read as the folder's are;
        ``InvalidRequest`` when it is not a LoRA this bot can use."""
        lora = replace(_read_header(path, path.stat().st_size), name=name)
        if lora.problem is not None:
            raise InvalidRequest(f"the acceleration LoRA “{name}” cannot be used: {lora.problem}")
        return lora


def _read_header(path: Path, size: int) -> LoraFile:
    """Name, family and layout from the safetensors header (no tensor is read)."""
    from safetensors import safe_open

    name = path.name[: -len(SUFFIX)]
    try:
        with safe_open(str(path), framework="pt") as handle:
            keys = list(handle.keys())
            metadata = handle.metadata() or {}
            cross = _cross_width(handle, keys)
    except Exception as exc:  # a damaged or foreign file: list it, say why
        log.info("cannot read LoRA %s: %s", path, exc)
        return LoraFile(name, path, size, None, None, "it is not a readable safetensors file")
    if not keys or not all(k.startswith(KOHYA_PREFIXES + DIFFUSERS_PREFIXES) for k in keys):
        strange = next((k for k in keys if not k.startswith(KOHYA_PREFIXES + DIFFUSERS_PREFIXES)), "no keys")
        return LoraFile(
            name,
            path,
            size,
            None,
            None,
            f"it holds weights of no LoRA layout this bot knows (such as “{strange}”)",
        )
    return LoraFile(name, path, size, _family(keys, metadata, cross), cross)


def _cross_width(handle: Any, keys: list[str]) -> int | None:
    for key in keys:
        if "attn2" in key and "to_k" in key and key.endswith(("lora_down.weight", "lora_A.weight")):
            return int(handle.get_slice(key).get_shape()[1])
    return None


def _family(keys: list[str], metadata: dict[str, str], cross: int | None) -> Family | None:
    said = (
        metadata.get("ss_base_model_version", "") + " " + metadata.get("modelspec.architecture", "")
    ).lower()
    if "xl" in said:
        return Family.SDXL
    if "v1" in said or "sd_1" in said or "stable-diffusion-v1" in said:
        return Family.SD15
    if any(k.startswith(SDXL_MARKERS) for k in keys):
        return Family.SDXL
    return CROSS_WIDTHS.get(cross) if cross is not None else None


class ActiveLoras:
    """The LoRAs loaded into one set of pipelines; used from the worker thread only."""

    def __init__(self, library: LoraLibrary, budget_bytes: int) -> None:
        self.library = library
        self.budget_bytes = budget_bytes
        self._loaded: OrderedDict[str, int] = OrderedDict()  # adapter name -> bytes, least recent first
        self._names: dict[str, str] = {}  # adapter name -> the LoRA's name when it was loaded
        self.loads = 0  # LoRA files read from disk so far (switching between cached ones reads none)
        self._enabled = False
        self.state: tuple[tuple[str, float], ...] = ()  # the adapters and weights now set, for caches

    def activate(
        self,
        pipe: Any,
        uses: Sequence[LoraUse],
        family: Family,
        cross_width: int,
        extra_unets: Sequence[Any] = (),
        added: Sequence[tuple[LoraFile, float]] = (),
    ) -> list[LoraFile]:
        """Set ``uses`` (name and weight each) and ``added`` (the engine's own, such as a speed's
        acceleration LoRA, with its weight) as the only active adapters; load the missing ones.
        ``extra_unets`` (an inpainting model's) get each LoRA's UNet part too. Returns the job's own."""
        own = self.library.check(uses, family)
        files = own + [lora for lora, _ in added]
        weights = [use.weight for use in uses] + [weight for _, weight in added]
        if not files:
            if self._enabled:
                pipe.disable_lora()
                for unet in extra_unets:
                    if getattr(unet, "peft_config", None):
                        unet.disable_lora()
                self._enabled = False
            self.state = ()
            return []
        for lora in files:
            if lora.cross_width is not None and lora.cross_width != cross_width:
                raise InvalidRequest(
                    f"the LoRA “{lora.name}” is made for another model family ({lora.family_label}: its "
                    f"text width is {lora.cross_width}, this {family.label} model's is {cross_width})"
                )
        adapters = [self._adapter(lora) for lora in files]
        for lora, adapter in zip(files, adapters, strict=True):
            self._load(pipe, lora, adapter, set(adapters), extra_unets)
        combined: dict[str, float] = {}  # two names for one file: LoRA deltas add, so the weights do
        for adapter, weight in zip(adapters, weights, strict=True):
            combined[adapter] = combined.get(adapter, 0.0) + weight
        names, weights = list(combined), list(combined.values())
        pipe.enable_lora()
        pipe.set_adapters(names, weights)
        for unet in extra_unets:  # only the adapters it has: a text-encoder-only LoRA has no UNet part
            held = getattr(unet, "peft_config", {}) or {}
            pairs = [(n, w) for n, w in zip(names, weights, strict=True) if n in held]
            if pairs:
                unet.enable_lora()
                unet.set_adapters([n for n, _ in pairs], [w for _, w in pairs])
            elif held:
                unet.disable_lora()
        self._enabled = True
        self.state = tuple(zip(names, weights, strict=True))
        return own

    def _adapter(self, lora: LoraFile) -> str:
        """The adapter's name inside the pipelines: from the file's contents, not its name, so that
        ``my-lora`` and ``my_lora``, or a file rewritten in place, never share a loaded adapter."""
        return "lora_" + self.library.short_hash(lora)

    def _load(
        self, pipe: Any, lora: LoraFile, adapter: str, keep: set[str], extra_unets: Sequence[Any]
    ) -> None:
        if adapter in self._loaded:
            self._loaded.move_to_end(adapter)
            return
        while self._loaded and sum(self._loaded.values()) + lora.size > self.budget_bytes:
            oldest = next((a for a in self._loaded if a not in keep), None)
            if oldest is None:
                break
            pipe.delete_adapters(oldest)
            for unet in extra_unets:
                if oldest in (getattr(unet, "peft_config", None) or {}):
                    unet.delete_adapters(oldest)
            del self._loaded[oldest]
            log.info(
                "unloaded LoRA %s (least recently used; LIKENESS_LORA_CACHE_MB)", self._names.pop(oldest)
            )
        try:
            with _only_reports_about(adapter):
                pipe.load_lora_weights(str(lora.path), adapter_name=adapter)
        except Exception as exc:
            with contextlib.suppress(Exception):  # a half-loaded adapter would block the next try
                pipe.delete_adapters(adapter)
            if is_out_of_memory(exc):
                raise OutOfMemory(
                    f"there was not enough memory to load the LoRA “{lora.name}” "
                    f"({-(-lora.size // 2**20)} MB): try fewer LoRAs at once"
                ) from exc
            raise InvalidRequest(f"the LoRA “{lora.name}” could not be loaded: {_first_line(exc)}") from exc
        if adapter not in {a for names in pipe.get_list_adapters().values() for a in names}:
            raise InvalidRequest(f"the LoRA “{lora.name}” has no weights this model has layers for")
        if extra_unets:  # the inpainting model's UNet has the base's layers but for its first convolution
            state, alphas = pipe.lora_state_dict(str(lora.path))
            unet_part = {k: v for k, v in state.items() if k.startswith("unet.")}
            for unet in extra_unets:
                if unet_part:
                    unet.load_lora_adapter(
                        unet_part, network_alphas=alphas, adapter_name=adapter, prefix="unet"
                    )
        self._loaded[adapter] = lora.size
        self._names[adapter] = lora.name
        self.loads += 1
        log.info("loaded LoRA %s (%s, %.1f MB)", lora.name, lora.family_label, lora.size / 2**20)


class _OtherAdaptersReport(logging.Filter):
    """transformers' load report for a text encoder's adapter lists the LoRA parameters of every
    other adapter already in the model as "missing": drop a report that names none of this one's."""

    def __init__(self, adapter: str) -> None:
        super().__init__()
        self.adapter = adapter

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "LOAD REPORT" not in message or f".{self.adapter}." in message


@contextlib.contextmanager
def _only_reports_about(adapter: str) -> Iterator[None]:
    logger = logging.getLogger("transformers.integrations.peft")
    quiet = _OtherAdaptersReport(adapter)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
