"""``/likeness stats``: one server's numbers over recent days as a short text, and the chart beside
them. The query is ``storage.stats``'; the chart ``bot.guilds.stats_chart``'s, drawn in a thread so
the event loop never waits on matplotlib."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bot.guilds.stats_chart import every_day, stats_chart
from storage import Database
from storage.stats import GuildStats, guild_stats

MAX_STATS_DAYS = 90
TOP_MEMBERS = 5


@dataclass(frozen=True, slots=True)
class StatsReport:
    text: str
    chart: bytes  # PNG
    stats: GuildStats


async def server_stats(
    db: Database,
    guild_id: int,
    days: int,
    *,
    nsfw_threshold: float,
    history_days: float,
    now: float | None = None,
) -> StatsReport:
    """The last ``days`` UTC days (today included) of the server's jobs."""
    now = time.time() if now is None else now
    start_of_today = now - now % 86400
    since = start_of_today - (days - 1) * 86400
    stats = await guild_stats(db, guild_id, since, nsfw_threshold=nsfw_threshold, top=TOP_MEMBERS)
    window = every_day(stats.days, days, now)
    title = f"Jobs per day, last {days} day{'s' if days != 1 else ''} (UTC)"
    chart = await asyncio.to_thread(stats_chart, window, title)
    return StatsReport(stats_text(stats, days, history_days), chart, stats)


def stats_text(stats: GuildStats, days: int, history_days: float) -> str:
    period = "today (UTC)" if days == 1 else f"the last {days} days (UTC)"
    if stats.jobs == 0:
        lines = [f"No jobs in this server {period}."]
    else:
        done = sum(d.done for d in stats.days)
        failed = sum(d.failed for d in stats.days)
        cancelled = sum(d.cancelled for d in stats.days)
        members = "member" if stats.members == 1 else "members"
        lines = [
            f"**{stats.jobs} jobs** {period} from {stats.members} {members}: {done} done, {failed} failed, "
            f"{cancelled} cancelled; {_gpu_time(stats.gpu_seconds)} of GPU time.",
            "Top members: "
            + ", ".join(f"<@{m.user_id}> {m.jobs} ({_gpu_time(m.gpu_seconds)})" for m in stats.top),
        ]
        if stats.failures:
            lines.append("Failures: " + ", ".join(f"{code} {n}" for code, n in stats.failures.items()))
        lines.append(
            f"Flagged NSFW: {stats.flagged} output{'s' if stats.flagged != 1 else ''} "
            "(withheld outside age-restricted channels)."
        )
    if days > history_days:
        lines.append(
            f"Finished jobs are kept {history_days:g} days (LIKENESS_HISTORY_DAYS): older days count none."
        )
    return "\n".join(lines)


def _gpu_time(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
