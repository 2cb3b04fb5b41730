"""The command line on a database: six ``api-key create`` at once on a fresh data folder (as a setup
script runs them), and a database that cannot be opened said in one line, exit code 4."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import storage.db
from bot.cli import EXIT_DATABASE, main
from storage import Database
from storage.db import LOCK_SUFFIX, default_migrations, load_migrations
from tests.bot.cli.test_cli import ROOT, clean_env

PACKAGED = load_migrations(default_migrations())


def cli(tmp_path: Path, *args: str) -> list[str]:
    """``python -m bot`` with no settings file and the data folder in ``tmp_path``."""
    return [sys.executable, "-m", "bot", "--env-file", str(tmp_path / "none.env"), *args]


def old_database(tmp_path: Path, up_to: int) -> Path:
    """The data folder's database at schema version ``up_to`` (the packaged files up to it)."""
    folder = tmp_path / f"up_to_{up_to:04d}"
    folder.mkdir()
    for migration in PACKAGED[:up_to]:
        shutil.copy(Path(str(default_migrations().joinpath(migration.filename))), folder / migration.filename)
    path = tmp_path / "data" / "likeness.sqlite3"

    async def create() -> None:
        async with await Database.open(path, migrations=folder) as db:
            assert await db.schema_version() == up_to

    asyncio.run(create())
    return path


def test_six_api_key_creates_at_once_on_a_fresh_data_folder(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            cli(tmp_path, "api-key", "create", "--user", str(user)),
            cwd=ROOT,
            env=clean_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user in range(1, 7)
    ]
    outcomes = [(p.wait(timeout=240), *p.communicate()) for p in procs]
    assert [code for code, _, _ in outcomes] == [0] * 6, [err for _, _, err in outcomes]
    assert all(err == "" for _, _, err in outcomes)
    keys = [out.splitlines()[0] for _, out, _ in outcomes]
    assert len(set(keys)) == 6 and all(k.startswith("lk_") for k in keys)
    with sqlite3.connect(tmp_path / "data" / "likeness.sqlite3") as raw:
        assert raw.execute("SELECT version, name FROM schema_migrations").fetchall() == [
            (m.version, m.name) for m in PACKAGED
        ]
        assert sorted(r[0] for r in raw.execute("SELECT user_id FROM api_keys")) == [1, 2, 3, 4, 5, 6]


def broken_old_database(tmp_path: Path) -> Path:
    """At version 4, but without the column 0005 renames: the packaged 0005 then truly fails."""
    path = old_database(tmp_path, 4)
    with sqlite3.connect(path) as raw:
        raw.execute("ALTER TABLE jobs RENAME COLUMN identity_weight TO lost_weight")
    return path


FAILED_0005 = (
    "error: cannot open the database: migration 0005_face_lock_columns.sql: OperationalError: "
    'no such column: "identity_weight" (rolled back; the schema stays at version 4)'
)


def test_a_failing_migration_is_one_line_from_the_command_line(tmp_path: Path) -> None:
    path = broken_old_database(tmp_path)
    proc = subprocess.run(
        cli(tmp_path, "api-key", "create", "--user", "1"),
        cwd=ROOT,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (EXIT_DATABASE, FAILED_0005 + "\n", "")
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (4,)


def test_the_bot_says_a_failing_migration_in_one_line_at_start_up(tmp_path: Path) -> None:
    broken_old_database(tmp_path)
    env = clean_env(tmp_path) | {"DISCORD_TOKEN": "not-a-real-token"}
    proc = subprocess.run(
        cli(tmp_path, "run"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == EXIT_DATABASE, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "0005_face_lock_columns.sql" in line]
    assert errors == [FAILED_0005]
    assert proc.stderr.splitlines()[-1] == FAILED_0005


def test_a_broken_migration_file_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(Path(str(default_migrations())), folder)
    broken = f"{PACKAGED[-1].version + 1:04d}_broken.sql"
    (folder / broken).write_text("ALTER TABLE jobs ADD COLUMN x INTEGER;\nSELECT * FROM nowhere;\n")
    monkeypatch.setattr(storage.db, "default_migrations", lambda: folder)
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(tmp_path / "data"))
    code = main(["--env-file", str(tmp_path / "none.env"), "api-key", "create", "--user", "1"])
    err = capsys.readouterr().err
    assert code == EXIT_DATABASE
    assert err == (
        f"error: cannot open the database: migration {broken}: OperationalError: no such table: nowhere "
        f"(rolled back; the schema stays at version {PACKAGED[-1].version})\n"
    )


def test_a_held_migration_lock_is_one_line_naming_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = old_database(tmp_path, len(PACKAGED))
    lock = path.with_name(path.name + LOCK_SUFFIX)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a process stuck in its migrations would hold it
        monkeypatch.setattr(storage.db, "MIGRATION_LOCK_TIMEOUT", 0.2)
        monkeypatch.setenv("LIKENESS_DATA_DIR", str(tmp_path / "data"))
        code = main(["--env-file", str(tmp_path / "none.env"), "api-key", "list", "--user", "1"])
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert code == EXIT_DATABASE
    assert err == (
        f"error: cannot open the database: gave up after 0.2 s waiting for {lock} (held by another "
        "process): let that process finish, or stop it, and try again\n"
    )
