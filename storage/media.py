"""Content-addressed media files: ``root/ab/<sha256>.<ext>``, folders 0700 and files 0600.

Files are written before the database row that references them and removed after the row is
gone, so a crash can leave an orphan file (swept later) but never a row without its file.

Pins close the one remaining race inside the process: between ``put`` finding a file already
present and the caller's transaction committing its row, someone deleting "unreferenced" files
could remove it. A caller pins while it holds a not-yet-committed reference (``pin_put`` …
``unpin``); ``remove_unpinned`` and ``sweep_orphans`` leave pinned files alone. The pin check
and the unlink happen under one lock, so they are atomic with respect to ``pin_put``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from storage.permissions import DIR_MODE, make_private_dirs, tighten

log = logging.getLogger(__name__)

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
EXT_RE = re.compile(r"^[a-z0-9]{1,10}$")
TMP_SUFFIX = ".tmp"


def normalize_ext(ext: str) -> str:
    """``".PNG"`` → ``"png"``; rejects anything that could escape the file name."""
    clean = ext.strip().lstrip(".").lower()
    if not EXT_RE.match(clean):
        raise ValueError(f"bad media extension {ext!r}")
    return clean


def _check_sha(sha: str) -> str:
    if not SHA256_RE.match(sha):
        raise ValueError(f"bad sha256 {sha!r}")
    return sha


@dataclass(frozen=True, slots=True)
class PutResult:
    sha256: str
    ext: str
    size: int
    created: bool  # False when the file was already there


class MediaStore:
    """Synchronous file operations; wrap big ones in ``asyncio.to_thread``."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        """``durable`` fsyncs the file and its folder so a committed row never outlives its file
        across a power cut; tests may turn it off for speed."""
        self.root = Path(root)
        self.durable = durable
        tighten(self.root, DIR_MODE)  # an install from before folders were private
        self._pins: Counter[str] = Counter()
        self._pin_lock = threading.Lock()

    # -- paths ------------------------------------------------------------------------------

    def path(self, sha: str, ext: str) -> Path:
        _check_sha(sha)
        return self.root / sha[:2] / f"{sha}.{normalize_ext(ext)}"

    def exists(self, sha: str, ext: str) -> bool:
        return self.path(sha, ext).is_file()

    def read(self, sha: str, ext: str) -> bytes:
        return self.path(sha, ext).read_bytes()

    # -- writing ----------------------------------------------------------------------------

    def put(self, data: bytes, ext: str) -> str:
        """Store ``data`` (idempotent) and return its sha256 hex."""
        result = self.pin_put(data, ext)
        self.unpin(result.sha256)
        return result.sha256

    def pin_put(self, data: bytes, ext: str) -> PutResult:
        """Like ``put`` but leaves the sha pinned; the caller must ``unpin`` it exactly once."""
        ext = normalize_ext(ext)
        sha = hashlib.sha256(data).hexdigest()
        final = self.path(sha, ext)
        with self._pin_lock:
            self._pins[sha] += 1
        try:
            if final.is_file():
                # Refresh mtime so an orphan sweep in another process treats it as new.
                try:
                    os.utime(final)
                except OSError:
                    log.debug("could not touch %s", final)
                return PutResult(sha, ext, len(data), created=False)
            self._write_atomic(final, data)
            return PutResult(sha, ext, len(data), created=True)
        except BaseException:
            self.unpin(sha)
            raise

    def _write_atomic(self, final: Path, data: bytes) -> None:
        folder = final.parent
        make_private_dirs(folder)
        # mkstemp creates the file 0600 and os.replace keeps that mode.
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{final.name}.", suffix=TMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if self.durable:
                    os.fsync(fh.fileno())
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        if self.durable:
            _fsync_dir(folder)

    # -- pins and removal ------------------------------------------------------------------

    def unpin(self, sha: str) -> None:
        with self._pin_lock:
            count = self._pins[sha] - 1
            if count > 0:
                self._pins[sha] = count
            else:
                self._pins.pop(sha, None)

    def is_pinned(self, sha: str) -> bool:
        with self._pin_lock:
            return self._pins[sha] > 0

    def unlink(self, sha: str, ext: str) -> None:
        """Remove a file regardless of pins (missing is fine)."""
        self.path(sha, ext).unlink(missing_ok=True)

    def remove_unpinned(self, sha: str, ext: str) -> bool:
        """Remove the file unless someone holds a pin on its sha; True when a file was removed."""
        target = self.path(sha, ext)
        with self._pin_lock:
            if self._pins[sha] > 0:
                return False
            try:
                target.unlink()
            except FileNotFoundError:
                return False
        return True

    def sweep_orphans(self, known: Collection[str], older_than: float = 600) -> list[Path]:
        """Delete files whose sha is not in ``known`` and stale temp files, both only when older
        than ``older_than`` seconds (a write in progress or a row about to commit is recent)."""
        if not self.root.is_dir():
            return []
        cutoff = time.time() - older_than
        removed: list[Path] = []
        for folder in self.root.iterdir():
            if not folder.is_dir() or len(folder.name) != 2:
                continue
            for entry in folder.iterdir():
                name = entry.name
                if name.endswith(TMP_SUFFIX) and name.startswith("."):
                    orphan = True
                    sha = None
                else:
                    sha, _, ext = name.partition(".")
                    if not (SHA256_RE.match(sha) and EXT_RE.match(ext)):
                        log.debug("not a media file, left alone: %s", entry)
                        continue
                    orphan = sha not in known
                if not orphan:
                    continue
                with self._pin_lock:
                    if sha is not None and self._pins[sha] > 0:
                        continue
                    try:
                        if entry.stat().st_mtime >= cutoff:
                            continue
                        entry.unlink()
                    except FileNotFoundError:
                        continue
                removed.append(entry)
        if removed:
            log.info("swept %d orphan media file(s) from %s", len(removed), self.root)
        return removed


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; not possible (nor needed) on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
