"""``LIKENESS_SHARDS``: discord.py's auto-sharded client against a fake Discord that requires two
shards, routes the guild's events to shard 1 and DMs to shard 0, and closes a wrong IDENTIFY as
Discord does. Commands work from both shards and results are delivered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.app.client import LikenessBot, ShardedLikenessBot, make_bot
from bot.app.services import Services
from bot.tiny import TinyBundle
from tests.cogs.harness import bot_settings, generate, result_message, running_bot
from tests.fakediscord import FakeDiscord


@pytest.fixture
def fake_discord_options() -> dict[str, Any]:
    return {"shards": 2}


async def test_two_shards_each_get_their_events(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    gateway = fake.gateway
    assert gateway.shard_of(fake.guild_id) == 1 and gateway.shard_of(None) == 0
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, shards="auto"), timeout=60) as bot:
        assert isinstance(bot, ShardedLikenessBot) and bot.shard_count == 2
        assert sorted(gateway.by_shard) == [0, 1] and gateway.identifies == 2
        assert [g.id for g in bot.guilds] == [fake.guild_id]
        assert bot.get_guild(fake.guild_id).shard_id == 1  # type: ignore[union-attr]
        in_guild = await result_message(await generate(fake, prompt="a lighthouse"))  # shard 1
        assert len(in_guild.files) == 1
        dm = await fake.slash(None, "generate", {"prompt": "a harbour"}, dm=True)  # shard 0
        await dm.wait_response()
        assert len((await result_message(dm)).files) == 1
    fake.assert_no_violations()


async def test_one_connection_is_the_default_and_a_count_is_kept(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    services = await Services.open(bot_settings(tiny_bundle, data_dir))
    try:
        plain = make_bot(services)
        assert type(plain) is LikenessBot
        services.settings = services.settings.model_copy(update={"shards": 3})
        sharded = make_bot(services)
        assert isinstance(sharded, ShardedLikenessBot) and sharded.shard_count == 3
    finally:
        await services.close()
