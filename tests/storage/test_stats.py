"""``storage.stats``: one server's jobs by UTC day, its members, failures by kind and flagged
outputs; other servers, DMs and days before the window are left out."""

from __future__ import annotations

from storage import Database
from storage.stats import DayCount, GuildStats, MemberCount, guild_stats

DAY = 86400.0
G, OTHER = 7, 8


async def job(
    db: Database, user: int, guild: int | None, at: float, status: str, *, code: str | None = None,
    seconds: float | None = None, nsfw: tuple[float | None, ...] = (),
) -> None:
    row = await db.fetchone(
        "INSERT INTO jobs (user_id, guild_id, status, mode, prompt, cfg, steps, seed, candidates, "
        "image_weight, aspect, created_at, engine_seconds, error_code) "
        "VALUES (?, ?, ?, 'text', 'p', 7, 20, 1, 1, 0.6, '1:1', ?, ?, ?) RETURNING id",
        (user, guild, status, at, seconds, code),
    )
    assert row is not None
    for idx, score in enumerate(nsfw):
        sha = f"{row[0]:032d}{idx:032d}"
        await db.execute(
            "INSERT INTO media (sha256, ext, size, created_at) VALUES (?, 'png', 1, ?)", (sha, at)
        )
        await db.execute(
            "INSERT INTO job_outputs (job_id, idx, media, seed, width, height, nsfw) "
            "VALUES (?, ?, ?, 1, 64, 64, ?)",
            (row[0], idx, sha, score),
        )


async def test_a_servers_days_members_failures_and_flags(db: Database) -> None:
    start = 20_000 * DAY  # 2024-10-04 00:00 UTC
    await job(db, 1, G, start + 10, "done", seconds=30, nsfw=(0.9, 0.1))
    await job(db, 1, G, start + DAY + 5, "failed", code="out_of_memory", seconds=2)
    await job(db, 2, G, start + DAY + 6, "failed")  # an older failure, before error codes
    await job(db, 2, G, start + DAY + 7, "queued")
    await job(db, 3, G, start - 1, "done", seconds=99)  # the day before the window
    await job(db, 1, OTHER, start + 20, "done", seconds=50, nsfw=(0.95,))  # another server
    await job(db, 1, None, start + 30, "done", seconds=50)  # a DM or the API
    stats = await guild_stats(db, G, start, nsfw_threshold=0.5)
    assert stats == GuildStats(
        days=[DayCount("2024-10-04", 1, 0, 0, 1), DayCount("2024-10-05", 0, 2, 0, 3)],
        top=[MemberCount(1, 2, 32.0), MemberCount(2, 2, 0.0)],
        gpu_seconds=32.0,
        members=2,
        failures={"out_of_memory": 1, "unknown": 1},
        flagged=1,
    )
    assert stats.jobs == 4
    assert await guild_stats(db, 99, start, nsfw_threshold=0.5) == GuildStats()
