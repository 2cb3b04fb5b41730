"""Fixtures for the storage tests: a fresh database and media folder per test, a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.params import JobParams
from storage import Database, JobRepository, MediaStore
from tests.storage.helpers import FakeClock, repository


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "likeness.sqlite3"


@pytest_asyncio.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def media(tmp_path: Path) -> MediaStore:
    # fsync off: durability is not what these tests check, and it keeps the folder fast.
    return MediaStore(tmp_path / "data" / "media", durable=False)


@pytest.fixture
def repo(db: Database, media: MediaStore, clock: FakeClock) -> JobRepository[JobParams]:
    return repository(db, media, clock=clock)
