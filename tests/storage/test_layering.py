"""The storage package stays at the bottom of the dependency graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_storage_imports_nothing_from_the_bot() -> None:
    """Dependencies point cogs → bot → storage; storage must also stay free of discord/torch."""
    code = (
        "import sys, storage, storage.db, storage.jobs, storage.media, storage.rows, storage.schema; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'bot', 'cogs', 'discord', 'torch'}))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
