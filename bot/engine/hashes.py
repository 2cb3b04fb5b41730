"""File hashes as A1111 writes them in a PNG, so model sites and PNG readers know the files.

A checkpoint's ``Model hash`` is the sha256 of the whole file, its first 10 hex digits (A1111's and
Civitai's "AutoV2"). A LoRA's or an embedding's is the sha256 of a safetensors file's tensor data,
after its JSON header, first 12 digits (A1111's ``addnet`` hash, Civitai's "AutoV3"), so that
rewriting a file's metadata does not change it; a file in another format is hashed whole.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
from pathlib import Path

log = logging.getLogger(__name__)

MODEL_HASH_CHARS = 10
WEIGHT_FILES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
SHORT_HASH_CHARS = 12
_BLOCK = 1 << 20


def sha256_of(path: Path, *, after_header: bool = False) -> str:
    """The hex sha256 of the file, or of a safetensors file's bytes after its header."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        if after_header:
            (length,) = struct.unpack("<Q", handle.read(8))
            handle.seek(8 + length)
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_hash(model: str) -> str | None:
    """``Model hash`` (or ``VAE hash``) of a weights file; None for a diffusers folder or hub id, which A1111
    cannot load and model sites do not hash. Read once, at load (a few seconds per GB)."""
    path = Path(model).expanduser()
    if not (path.is_file() and path.suffix.lower() in WEIGHT_FILES):
        return None
    started = time.perf_counter()
    digest = sha256_of(path)[:MODEL_HASH_CHARS]
    log.info("A1111 hash %s of %s, read in %.1f s", digest, path.name, time.perf_counter() - started)
    return digest


def short_hash(path: Path) -> str:
    return sha256_of(path, after_header=path.suffix.lower() == ".safetensors")[:SHORT_HASH_CHARS]
