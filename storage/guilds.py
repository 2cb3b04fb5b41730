"""Each server's settings as stored rows: one row per setting a server changed.

The values are JSON text; what they mean, and which names exist, is the bot's business
(``bot.guilds``). Storage keeps them, says who changed them and when, and forgets one on reset.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from storage.db import Database


class GuildSettingsRepository:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def values(self, guild_id: int) -> dict[str, str]:
        """The server's changed settings, by name, as stored (JSON text)."""
        rows = await self._db.fetchall(
            "SELECT name, value FROM guild_settings WHERE guild_id = ? ORDER BY name", (guild_id,)
        )
        return {str(r[0]): str(r[1]) for r in rows}

    async def put(self, guild_id: int, name: str, value: str, by: int) -> None:
        await self._db.execute(
            "INSERT INTO guild_settings (guild_id, name, value, updated_by, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, name) DO UPDATE SET "
            "value = excluded.value, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            (guild_id, name, value, by, self._clock()),
        )

    async def reset(self, guild_id: int, name: str) -> bool:
        """Back to the bot's default; False when it was not changed."""
        done = await self._db.execute(
            "DELETE FROM guild_settings WHERE guild_id = ? AND name = ?", (guild_id, name)
        )
        return done.rowcount > 0
