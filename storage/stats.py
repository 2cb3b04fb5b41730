"""One server's activity over recent days, for ``/likeness stats``: jobs per day and how they
ended, the busiest members, GPU seconds, failures by kind, and outputs the NSFW check flagged.

Counted from the jobs still kept (finished jobs are swept after ``LIKENESS_HISTORY_DAYS``), by the
UTC day each was submitted; jobs queued or running are counted as submitted, not as ended."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.db import Database

_DAYS = """
SELECT date(created_at, 'unixepoch') AS day,
       SUM(status = 'done') AS done, SUM(status = 'failed') AS failed,
       SUM(status = 'cancelled') AS cancelled, COUNT(*) AS total
FROM jobs WHERE guild_id = :guild AND created_at >= :since GROUP BY day ORDER BY day
"""
_MEMBERS = """
SELECT user_id, COUNT(*) AS jobs, COALESCE(SUM(engine_seconds), 0) AS seconds
FROM jobs WHERE guild_id = :guild AND created_at >= :since
GROUP BY user_id ORDER BY jobs DESC, seconds DESC, user_id LIMIT :top
"""
_TOTALS = """
SELECT COALESCE(SUM(engine_seconds), 0), COUNT(DISTINCT user_id)
FROM jobs WHERE guild_id = :guild AND created_at >= :since
"""
_FAILURES = """
SELECT COALESCE(error_code, 'unknown') AS code, COUNT(*) AS n
FROM jobs WHERE guild_id = :guild AND created_at >= :since AND status = 'failed'
GROUP BY code ORDER BY n DESC, code
"""
_FLAGGED = """
SELECT COUNT(*) FROM job_outputs o JOIN jobs j ON j.id = o.job_id
WHERE j.guild_id = :guild AND j.created_at >= :since AND o.nsfw >= :threshold
"""


@dataclass(frozen=True, slots=True)
class DayCount:
    day: str  # YYYY-MM-DD, UTC
    done: int
    failed: int
    cancelled: int
    total: int  # the three above, and the jobs not finished yet


@dataclass(frozen=True, slots=True)
class MemberCount:
    user_id: int
    jobs: int
    gpu_seconds: float


@dataclass(frozen=True, slots=True)
class GuildStats:
    days: list[DayCount] = field(default_factory=list)  # only days with jobs
    top: list[MemberCount] = field(default_factory=list)
    gpu_seconds: float = 0.0
    members: int = 0  # distinct members with a job
    failures: dict[str, int] = field(default_factory=dict)  # by error code, most first
    flagged: int = 0  # outputs the NSFW check flagged (withheld outside age-restricted channels)

    @property
    def jobs(self) -> int:
        return sum(d.total for d in self.days)


async def guild_stats(
    db: Database, guild_id: int, since: float, *, nsfw_threshold: float, top: int = 5
) -> GuildStats:
    """The server's activity for jobs submitted at or after ``since`` (a Unix time)."""
    params = {"guild": guild_id, "since": since, "top": top, "threshold": nsfw_threshold}
    days = [DayCount(r[0], r[1], r[2], r[3], r[4]) for r in await db.fetchall(_DAYS, params)]
    members = [MemberCount(r[0], r[1], float(r[2])) for r in await db.fetchall(_MEMBERS, params)]
    totals = await db.fetchone(_TOTALS, params)
    failures = {r[0]: r[1] for r in await db.fetchall(_FAILURES, params)}
    flagged = await db.fetchval(_FLAGGED, params)
    assert totals is not None
    return GuildStats(days, members, float(totals[0]), int(totals[1]), failures, int(flagged or 0))
