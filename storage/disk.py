"""The free-disk floor (``LIKENESS_MIN_FREE_MB``): below it nothing new is written."""

from __future__ import annotations

import shutil
from pathlib import Path

from storage.errors import DiskFull


def free_bytes(root: Path) -> int:
    """Free bytes on the disk holding ``root`` (or its nearest existing parent: it may not exist yet)."""
    path = Path(root).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def check_free(root: Path, floor: int, incoming: int = 0) -> None:
    """Raise ``DiskFull`` when writing ``incoming`` bytes under ``root`` would leave less than
    ``floor`` bytes free (``floor`` 0: no floor)."""
    if floor <= 0:
        return
    free = free_bytes(root)
    if free - incoming < floor:
        raise DiskFull(free, floor)
