"""mkdocs hooks: write the generated pages before each build, so the site shows what this checkout
accepts. ``docs/reference/configuration.md`` comes from the Settings model; it is committed, so that
it reads on GitHub too, and ``tests/test_docs.py`` fails while it is stale (``python
scripts/docs_hooks.py`` or any docs build rewrites it). ``docs/reference/openapi.json`` comes from the
API's routes, rendered by neoteroi's OAD tag, and is ignored by git."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"

log = logging.getLogger("mkdocs.hooks.likeness")


def on_pre_build(config: Any = None, **_: Any) -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    sys.path.insert(0, str(ROOT))
    from bot.api.app import openapi_document
    from bot.app.reference import configuration_markdown

    REFERENCE.mkdir(parents=True, exist_ok=True)
    _write(REFERENCE / "configuration.md", configuration_markdown())
    _write(REFERENCE / "openapi.json", json.dumps(openapi_document(), indent=1) + "\n")


def _write(path: Path, text: str) -> None:
    """Only when changed, so ``mkdocs serve`` does not rebuild forever."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
        log.info("wrote %s", path.relative_to(ROOT))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    on_pre_build()
