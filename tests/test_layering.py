"""The import graph points one way, cogs → bot → storage, and the engine stays plain.

Checked twice: statically (every ``import`` in every module, those inside functions included), and at
run time (what importing a layer really pulls in, in a fresh interpreter)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What the engine may import from the project: itself and the plain-data modules it is handed.
ENGINE_MAY_IMPORT = ("bot.engine", "bot.errors", "bot.jobs", "bot.params")
# Never in the engine: the Discord client, the database, the settings (the engine gets plain config).
ENGINE_NEVER = ("discord", "aiosqlite", "storage", "bot.settings", "pydantic_settings", "cogs")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute names (relative imports are resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("storage", ("bot", "cogs", "discord", "torch", "diffusers", "numpy")),
        ("bot", ("cogs",)),
    ],
)
def test_no_layer_imports_the_one_above(package: str, forbidden: tuple[str, ...]) -> None:
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules(package)
        for name in imports(path)
        if within(name, forbidden)
    }
    assert wrong == set()


def test_the_engine_imports_only_itself_and_plain_data() -> None:
    wrong = set()
    for path in modules("bot/engine"):
        for name in imports(path):
            project = within(name, ("bot", "cogs", "storage"))
            if within(name, ENGINE_NEVER) or (project and not within(name, ENGINE_MAY_IMPORT)):
                wrong.add(f"{path.relative_to(ROOT)}: {name}")
    assert wrong == set()


def test_only_the_client_and_its_command_know_discord() -> None:
    users = {
        str(p.relative_to(ROOT)) for p in modules("bot") if any(within(n, ("discord",)) for n in imports(p))
    }
    assert users == {"bot/client.py"}


def loaded_by(code: str) -> set[str]:
    """Every module a fresh interpreter holds after running ``code``."""
    probe = f"import json, sys; {code}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_at_run_time_too() -> None:
    storage = loaded_by(
        "import storage, storage.db, storage.jobs, storage.media, storage.rows, storage.schema"
    )
    assert not {m for m in storage if within(m, ("bot", "cogs", "discord", "torch"))}
    engine = loaded_by("import bot.engine.engine, bot.engine.checks, bot.engine.faces.factory")
    assert not {m for m in engine if within(m, ENGINE_NEVER)}
    plain = loaded_by("import bot.params, bot.jobs, bot.errors")
    assert not {m for m in plain if within(m, ("torch", "diffusers", "discord", "aiosqlite", "storage"))}
