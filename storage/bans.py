"""Members banned from the bot: in one server, or everywhere (``EVERYWHERE``, the owner's ban)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from storage.db import Database

EVERYWHERE = 0  # the guild id of a bot-wide ban (no server has id 0)
_COLUMNS = "guild_id, user_id, reason, banned_by, created_at, expires_at"


@dataclass(frozen=True, slots=True)
class BanRow:
    guild_id: int  # EVERYWHERE for a bot-wide ban
    user_id: int
    reason: str
    banned_by: int
    created_at: float
    expires_at: float | None  # None: until unbanned

    @property
    def everywhere(self) -> bool:
        return self.guild_id == EVERYWHERE


class BanRepository:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def ban(
        self, guild_id: int, user_id: int, reason: str, by: int, expires_at: float | None
    ) -> BanRow:
        """Ban, or change an existing ban's reason and end."""
        row = await self._db.fetchone(
            "INSERT INTO bans (guild_id, user_id, reason, banned_by, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            "reason = excluded.reason, banned_by = excluded.banned_by, created_at = excluded.created_at, "
            f"expires_at = excluded.expires_at RETURNING {_COLUMNS}",
            (guild_id, user_id, reason, by, self._clock(), expires_at),
        )
        assert row is not None
        return BanRow(*row)

    async def unban(self, guild_id: int, user_id: int) -> bool:
        """False when there was no ban in force."""
        done = await self._db.execute(
            "DELETE FROM bans WHERE guild_id = ? AND user_id = ? AND (expires_at IS NULL OR expires_at > ?)",
            (guild_id, user_id, self._clock()),
        )
        return done.rowcount > 0

    async def active(self, user_id: int, guild_id: int | None) -> BanRow | None:
        """The ban in force on ``user_id`` here: the bot-wide one first, then the server's (None: a DM
        or the API, where only the bot-wide ban applies)."""
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM bans WHERE user_id = ? AND guild_id IN (?, ?) "
            "AND (expires_at IS NULL OR expires_at > ?) ORDER BY guild_id LIMIT 1",
            (user_id, EVERYWHERE, EVERYWHERE if guild_id is None else guild_id, self._clock()),
        )
        return None if row is None else BanRow(*row)

    async def listed(self, guild_id: int) -> list[BanRow]:
        """The bans in force in one server (or ``EVERYWHERE``), newest first."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM bans WHERE guild_id = ? AND (expires_at IS NULL OR expires_at > ?) "
            "ORDER BY created_at DESC",
            (guild_id, self._clock()),
        )
        return [BanRow(*r) for r in rows]
