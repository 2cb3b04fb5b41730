"""API keys: each acts as one Discord user. Only a key's hash is stored; the bot makes the keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from storage.db import Database

_COLUMNS = "id, user_id, name, prefix, webhook_secret, created_at, last_used_at, revoked_at, allow_nsfw"


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: int
    user_id: int
    name: str
    prefix: str  # the key's first characters: enough to tell keys apart, useless to an attacker
    webhook_secret: str = field(repr=False)
    created_at: float
    last_used_at: float | None
    revoked_at: float | None
    allow_nsfw: bool = False  # its owner lets it fetch outputs flagged NSFW

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_nsfw", bool(self.allow_nsfw))  # SQLite's 0/1

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class ApiKeyRepository:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def create(
        self,
        user_id: int,
        name: str,
        *,
        key_hash: str,
        prefix: str,
        webhook_secret: str,
        allow_nsfw: bool = False,
    ) -> ApiKeyRow:
        row = await self._db.fetchone(
            "INSERT INTO api_keys (user_id, name, key_hash, prefix, webhook_secret, created_at, allow_nsfw) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
            (user_id, name, key_hash, prefix, webhook_secret, self._clock(), int(allow_nsfw)),
        )
        assert row is not None
        return ApiKeyRow(*row)

    async def by_hash(self, key_hash: str) -> ApiKeyRow | None:
        """The key with this hash, revoked or not (the caller decides what a revoked key gets)."""
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = ?", (key_hash,))
        return None if row is None else ApiKeyRow(*row)

    async def get(self, key_id: int) -> ApiKeyRow | None:
        row = await self._db.fetchone(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
        return None if row is None else ApiKeyRow(*row)

    async def list(self, user_id: int) -> list[ApiKeyRow]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM api_keys WHERE user_id = ? ORDER BY id", (user_id,)
        )
        return [ApiKeyRow(*r) for r in rows]

    async def revoke(self, key_id: int, *, user_id: int | None = None) -> ApiKeyRow | None:
        """Revoke a key (``user_id``: only if it is theirs); the row as it is now, None if not found.
        Revoking twice keeps the first time."""
        row = await self._db.fetchone(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) "
            f"WHERE id = ? AND (? IS NULL OR user_id = ?) RETURNING {_COLUMNS}",
            (self._clock(), key_id, user_id, user_id),
        )
        return None if row is None else ApiKeyRow(*row)

    async def set_allow_nsfw(
        self, key_id: int, allow: bool, *, user_id: int | None = None
    ) -> ApiKeyRow | None:
        """Whether the key may fetch flagged outputs (``user_id``: only theirs); None if not found."""
        row = await self._db.fetchone(
            "UPDATE api_keys SET allow_nsfw = ? WHERE id = ? AND (? IS NULL OR user_id = ?) "
            f"RETURNING {_COLUMNS}",
            (int(allow), key_id, user_id, user_id),
        )
        return None if row is None else ApiKeyRow(*row)

    async def touch(self, key_id: int) -> None:
        """Record a use: ``list`` shows when each key was last used."""
        await self._db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (self._clock(), key_id))
