"""The stats answer's text and the chart's window: every day shown, the retention named."""

from __future__ import annotations

from bot.actions.stats import stats_text
from bot.guilds.stats_chart import every_day
from storage.stats import DayCount, GuildStats, MemberCount


def test_an_empty_window_says_so_and_names_the_retention_when_asked_past_it() -> None:
    assert stats_text(GuildStats(), 1, 7) == "No jobs in this server today (UTC)."
    assert stats_text(GuildStats(), 30, 7).splitlines() == [
        "No jobs in this server the last 30 days (UTC).",
        "Finished jobs are kept 7 days (LIKENESS_HISTORY_DAYS): older days count none.",
    ]


def test_gpu_time_reads_in_seconds_minutes_or_hours() -> None:
    stats = GuildStats([DayCount("2026-12-07", 3, 0, 0, 3)], [MemberCount(5, 3, 9000.0)], 9000.0, 1)
    first, top, flagged = stats_text(stats, 7, 7).splitlines()
    assert first == (
        "**3 jobs** the last 7 days (UTC) from 1 member: 3 done, 0 failed, 0 cancelled; 2.5 h of GPU time."
    )
    assert top == "Top members: <@5> 3 (2.5 h)"
    assert flagged == "Flagged NSFW: 0 outputs (withheld outside age-restricted channels)."


def test_the_window_has_every_day_with_gaps_as_zeros() -> None:
    now = 20_002 * 86400.0 + 3600  # 2024-10-06 01:00 UTC
    window = every_day([DayCount("2024-10-05", 2, 1, 0, 3)], 3, now)
    assert [(d.day, d.total) for d in window] == [("2024-10-04", 0), ("2024-10-05", 3), ("2024-10-06", 0)]
