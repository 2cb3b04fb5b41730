"""The daily job quota: every job is counted on its UTC day when it is queued (``daily_charges``),
and a job that fails or is cancelled before it runs is given back by the database itself (the
``daily_refund`` trigger of migration 0014), whichever code path wrote that status.

A cap counts either all of a user's jobs (the bot-wide cap) or one server's: the jobs queued there
plus those with no server (the API, DMs, the command line), since they are the same person's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.db import Database
from storage.errors import DailyQuotaReached

_USED = """
SELECT COUNT(*) FROM daily_charges INDEXED BY daily_charges_by_user
WHERE user_id = :user AND day = :day AND (:all OR guild_id = :guild OR guild_id IS NULL)
"""


@dataclass(frozen=True, slots=True)
class DailyCap:
    """At most ``limit`` jobs a UTC day; ``guild_id`` None counts every job of the user."""

    limit: int
    guild_id: int | None = None


def utc_day(now: float) -> tuple[str, float]:
    """The UTC date of ``now`` and when it ends (the next UTC midnight), in unix seconds."""
    moment = datetime.fromtimestamp(now, UTC)
    midnight = datetime(moment.year, moment.month, moment.day, tzinfo=UTC) + timedelta(days=1)
    return moment.date().isoformat(), midnight.timestamp()


async def used(db: Database, user_id: int, guild_id: int | None, now: float) -> int:
    """Jobs counted today against a cap of ``guild_id`` (None: all of them)."""
    day, _ = utc_day(now)
    count = await db.fetchval(
        _USED, {"user": user_id, "day": day, "all": guild_id is None, "guild": guild_id}
    )
    return int(count or 0)


async def check(db: Database, user_id: int, caps: Sequence[DailyCap], now: float) -> None:
    """``DailyQuotaReached`` for the first cap one more job would pass."""
    for cap in caps:
        count = await used(db, user_id, cap.guild_id, now)
        if count >= cap.limit:
            raise DailyQuotaReached(cap.limit, count, utc_day(now)[1], cap.guild_id)


async def charge(db: Database, job_id: int, user_id: int, guild_id: int | None, now: float) -> None:
    """Count a job just queued (inside its inserting transaction)."""
    await db.execute(
        "INSERT INTO daily_charges (job_id, user_id, guild_id, day) VALUES (?, ?, ?, ?)",
        (job_id, user_id, guild_id, utc_day(now)[0]),
    )
