"""The configuration reference covers every setting, each with its type, default, range and a
description; ``.env.example`` names only real settings; the README's links point at pages that exist.
The site itself is built strictly by ``scripts/test`` (``mkdocs build --strict``)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.app.reference import configuration_markdown, rows, variable
from bot.app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_the_reference_with_a_description() -> None:
    page = configuration_markdown()
    committed = (ROOT / "docs" / "reference" / "configuration.md").read_text()
    assert committed == page, "docs/reference/configuration.md is stale: python scripts/docs_hooks.py"
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert not missing, f"settings without a description (the reference needs one): {missing}"
    for name, field in Settings.model_fields.items():
        assert f"| `{variable(name, field)}` |" in page, name
    assert len(rows()) == len(Settings.model_fields)


def test_the_reference_says_types_defaults_and_ranges() -> None:
    by_name = {row[1]: row for row in rows()}
    assert by_name["LIKENESS_QUEUE_PER_USER"][2:5] == ("integer", "`3`", "1–100")
    assert by_name["LIKENESS_HISTORY_DAYS"][4] == "> 0"
    assert by_name["LIKENESS_DEVICE"][2] == "one of `auto`, `cpu`, `cuda`, `mps`"
    assert by_name["DISCORD_TOKEN"][3] == "(none)"  # a secret's default is never printed
    assert by_name["LIKENESS_MODEL_CONFIG"][0] == "Models"  # its own alias, in its section


def test_env_example_names_only_real_settings() -> None:
    known = {variable(name, field) for name, field in Settings.model_fields.items()}
    named = set(
        re.findall(r"^#?\s*((?:LIKENESS|DISCORD)_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    assert named, "no settings found in .env.example"
    assert not named - known, f".env.example names unknown settings: {sorted(named - known)}"


def test_the_readme_links_to_pages_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(((?:docs/)[^)#]+)", readme)
    assert targets
    for target in targets:
        assert (ROOT / target).exists(), target
