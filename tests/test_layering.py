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
ENGINE_MAY_IMPORT = (
    "bot.engine",
    "bot.errors",
    "bot.jobs",
    "bot.params",
    "bot.rules",
    "bot.choices",
    "bot.prompt_syntax",
)
# Never in the engine: the Discord client, the database, the settings (the engine gets plain config).
ENGINE_NEVER = ("discord", "aiosqlite", "storage", "bot.app.settings", "pydantic_settings", "cogs")


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


# Inside bot/, lowest first: a package may import its own layer and those below it, never one above.
# Plain data (the error ladder, params and their choices, the engine's requests) is the floor.
BOT_LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "bot.errors",
        "bot.choices",
        "bot.rules",
        "bot.prompt_syntax",
        "bot.params",
        "bot.options",
        "bot.jobs",
        "bot.explain",
        "bot.nsfw_policy",  # where a flagged output may go: one pure decision
    ),
    ("bot.redact", "bot.logs"),  # what every process's logging masks
    ("bot.engine",),
    ("bot.guilds", "bot.output_limit"),  # a community server's settings as a policy over jobs (plain data)
    ("bot.running",),  # the queue and where jobs run: the local thread, Ray
    ("bot.metrics",),  # what the queue and workers report to Prometheus (the API adds its requests)
    ("bot.characters",),  # reference sets and the faces they hold
    ("bot.actions",),  # what users do: submit, cancel, delete, forget, API keys
    ("bot.app",),  # settings, the object graph, the Discord client
    ("bot.api", "bot.cli", "bot.tiny", "bot.__main__"),  # entry points and the offline bundle
)


def _layer(name: str) -> int | None:
    return next((i for i, layer in enumerate(BOT_LAYERS) if within(name, layer)), None)


def test_every_bot_module_has_a_layer() -> None:
    names = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in modules("bot")}
    assert {n for n in names if n != "bot.__init__" and _layer(n) is None} == set()


def test_bot_packages_import_only_their_layer_and_below() -> None:
    wrong = set()
    for path in modules("bot"):
        own = _layer(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if own is None:
            continue
        for name in imports(path):
            other = _layer(name)
            if other is not None and other > own:
                wrong.add(f"{path.relative_to(ROOT)}: {name}")
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
    assert users == {"bot/app/client.py"}


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
    plain = loaded_by("import bot.params, bot.jobs, bot.errors, bot.choices")
    assert not {m for m in plain if within(m, ("torch", "diffusers", "discord", "aiosqlite", "storage"))}


def test_params_are_pure_data() -> None:
    """Every entry point reads the option declarations; reading them loads no library, no engine."""
    loaded = loaded_by("import bot.params, bot.options")
    heavy = ("PIL", "numpy", "torch", "diffusers", "transformers", "discord", "aiosqlite", "storage")
    assert {m for m in loaded if within(m, heavy)} == set()
    project = {m for m in loaded if within(m, ("bot", "cogs"))}
    plain = {
        "bot",
        "bot.params",
        "bot.options",
        "bot.rules",
        "bot.errors",
        "bot.choices",
        "bot.prompt_syntax",
    }
    assert project <= plain
