"""A folder of weight files the operator may change while the bot runs (LoRAs, embeddings): each
file is read again only when it is new or rewritten (its size or time changed), and hashed once
per version. Shared by the worker thread and the event loop, so it locks."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
Version = tuple[int, int]  # size, modification time in ns


class WeightFolder(Generic[T]):
    def __init__(
        self,
        folder: Path | None,
        suffixes: tuple[str, ...],
        read: Callable[[Path, int], T],
        hasher: Callable[[Path], str],
    ) -> None:
        """``read(path, size)`` parses one file; ``hasher(path)`` is its PNG hash."""
        self.folder = folder
        self.suffixes = suffixes
        self._read = read
        self._hasher = hasher
        self._files: dict[Path, tuple[Version, T]] = {}
        self._hashes: dict[tuple[Path, Version], str] = {}
        self._lock = threading.Lock()

    def files(self) -> list[T]:
        """Every file of the folder with one of the suffixes, by name, as ``read`` made it."""
        if self.folder is None or not self.folder.is_dir():
            return []
        found: list[T] = []
        with self._lock:
            seen: set[Path] = set()
            for entry in sorted(os.scandir(self.folder), key=lambda e: e.name.lower()):
                path = Path(entry.path)
                if path.suffix.lower() not in self.suffixes or not entry.is_file():
                    continue
                stat = entry.stat()
                version = (stat.st_size, stat.st_mtime_ns)
                cached = self._files.get(path)
                if cached is None or cached[0] != version:
                    cached = (version, self._read(path, stat.st_size))
                    self._files[path] = cached
                seen.add(path)
                found.append(cached[1])
            for gone in set(self._files) - seen:
                del self._files[gone]
        return found

    def hash(self, path: Path) -> str:
        stat = path.stat()
        key = (path, (stat.st_size, stat.st_mtime_ns))
        with self._lock:
            cached = self._hashes.get(key)
        if cached is None:
            cached = self._hasher(path)
            with self._lock:
                self._hashes[key] = cached
        return cached
