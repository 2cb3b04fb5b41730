"""A server's stored settings and bans, and the daily quota: counted when a job is queued, given back
by the database when the job fails or is cancelled before it runs, never by deleting the job, and
reset at UTC midnight."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.params import JobParams
from storage import (
    EVERYWHERE,
    BanRepository,
    DailyCap,
    DailyQuotaReached,
    Database,
    GuildSettingsRepository,
    JobRepository,
    utc_day,
)
from tests.storage.helpers import BIG, FakeClock, new_job

GUILD, OTHER = 111, 222


async def test_settings_are_kept_per_server_and_reset_one_by_one(db: Database) -> None:
    repo = GuildSettingsRepository(db)
    await repo.put(GUILD, "steps", "20", by=5)
    await repo.put(GUILD, "steps", "25", by=6)  # changing one replaces it
    await repo.put(GUILD, "modes", '["text"]', by=5)
    await repo.put(OTHER, "steps", "10", by=7)
    assert await repo.values(GUILD) == {"modes": '["text"]', "steps": "25"}
    assert await repo.reset(GUILD, "steps") is True
    assert await repo.reset(GUILD, "steps") is False
    assert await repo.values(GUILD) == {"modes": '["text"]'}
    assert await repo.values(OTHER) == {"steps": "10"}


async def test_bans_end_and_the_bot_wide_one_counts_everywhere(db: Database, clock: FakeClock) -> None:
    bans = BanRepository(db, clock=clock)
    await bans.ban(GUILD, 9, "spam", by=1, expires_at=clock.now + 3600)
    assert (ban := await bans.active(9, GUILD)) is not None and ban.reason == "spam"
    assert await bans.active(9, OTHER) is None and await bans.active(9, None) is None
    clock.advance(3601)
    assert await bans.active(9, GUILD) is None and await bans.listed(GUILD) == []
    assert await bans.unban(GUILD, 9) is False  # an ended ban is no ban

    await bans.ban(EVERYWHERE, 9, "abuse", by=1, expires_at=None)
    await bans.ban(GUILD, 9, "local", by=1, expires_at=None)
    for where in (GUILD, OTHER, None):
        found = await bans.active(9, where)
        assert found is not None and found.everywhere and found.reason == "abuse"
    assert await bans.unban(EVERYWHERE, 9) is True
    found = await bans.active(9, GUILD)
    assert found is not None and found.reason == "local"


async def test_the_daily_quota_counts_refunds_and_resets(
    repo: JobRepository[JobParams], db: Database, clock: FakeClock
) -> None:
    cap = (DailyCap(2, GUILD),)
    limits = {"per_user_limit": BIG, "total_limit": BIG, "daily_caps": cap}
    first = await repo.create_job(new_job(1, guild_id=GUILD), **limits)
    api = await repo.create_job(new_job(1, guild_id=None), **limits)  # the API counts in every server
    await repo.create_job(new_job(1, guild_id=OTHER), per_user_limit=BIG, total_limit=BIG)
    with pytest.raises(DailyQuotaReached) as refused:
        await repo.create_job(new_job(1, guild_id=GUILD), **limits)
    day, midnight = utc_day(clock.now)
    assert (refused.value.limit, refused.value.used, refused.value.resets_at) == (2, 2, midnight)
    assert datetime.fromtimestamp(midnight, UTC) == datetime(2023, 11, 15, tzinfo=UTC)
    with pytest.raises(DailyQuotaReached):
        await repo.check_room(1, per_user_limit=BIG, total_limit=BIG, daily_caps=cap)
    assert await repo.used_today(1) == 3 and await repo.used_today(1, GUILD) == 2
    assert await db.fetchval("SELECT COUNT(*) FROM jobs") == 3  # nothing written for the refusal

    # A failed job gives its count back; a cancelled queued one too.
    await repo.mark_failed(api.id, "out of memory")
    assert await repo.used_today(1, GUILD) == 1
    second = await repo.create_job(new_job(1, guild_id=GUILD), **limits)
    assert (await repo.cancel(second.id, 1)).job is not None
    assert await repo.used_today(1, GUILD) == 1
    # A job that ran counts, even once it is deleted.
    claimed = await repo.claim_next()
    assert claimed is not None and claimed.id == first.id
    await repo.mark_done(first.id, [], 1.0)
    assert await repo.delete_job(first.id, 1) is True
    assert await repo.used_today(1, GUILD) == 1
    third = await repo.create_job(new_job(1, guild_id=GUILD), **limits)
    with pytest.raises(DailyQuotaReached):
        await repo.create_job(new_job(1, guild_id=GUILD), **limits)
    assert third.id > first.id

    # Another user is counted apart; the next UTC day starts at zero.
    await repo.create_job(new_job(2, guild_id=GUILD), **limits)
    clock.now = midnight
    assert utc_day(clock.now)[0] != day
    assert await repo.used_today(1, GUILD) == 0
    await repo.create_job(new_job(1, guild_id=GUILD), **limits)


async def test_the_bot_wide_cap_counts_every_server(repo: JobRepository[JobParams]) -> None:
    cap = (DailyCap(2, None),)
    await repo.create_job(new_job(1, guild_id=GUILD), per_user_limit=BIG, total_limit=BIG, daily_caps=cap)
    await repo.create_job(new_job(1, guild_id=OTHER), per_user_limit=BIG, total_limit=BIG, daily_caps=cap)
    with pytest.raises(DailyQuotaReached) as refused:
        await repo.create_job(new_job(1), per_user_limit=BIG, total_limit=BIG, daily_caps=cap)
    assert refused.value.guild_id is None
