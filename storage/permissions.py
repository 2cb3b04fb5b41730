"""Owner-only file modes for everything the bot keeps on disk.

The data folder holds face embeddings (biometric data), prompts and uploaded photos, so folders
are 0700 and files 0600 whatever the umask. New folders are created so; an install made before
this (0755/0644) is tightened when the bot starts. On Windows, modes mean little and are left alone.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
_POSIX = os.name == "posix"


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and any missing parents as 0700; existing folders are not changed."""
    folder = Path(folder)
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created meanwhile by another thread or process
            if not path.is_dir():
                raise
            continue
        # mkdir's mode passes through the umask, which can only remove bits: force the exact mode.
        _chmod(path, DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then only tighten it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        tighten(path, FILE_MODE)
        return
    os.close(fd)
    _chmod(path, FILE_MODE)


def tighten(path: Path, mode: int) -> bool:
    """Give ``path`` exactly ``mode`` when it allows more (group/other bits); True when changed.
    A missing path is fine; one we may not change (another owner) is logged, not fatal."""
    if not _POSIX:
        return False
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    if current & ~mode == 0:
        return False
    try:
        os.chmod(path, mode)
    except PermissionError:
        log.warning(
            "%s is readable by others (mode %o) and cannot be changed; chmod %o it", path, current, mode
        )
        return False
    log.info("tightened %s from mode %o to %o", path, current, mode)
    return True


def _chmod(path: Path, mode: int) -> None:
    if _POSIX:
        os.chmod(path, mode)
