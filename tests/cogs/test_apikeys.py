"""``/apikey``: keys made in Discord work on the API, are shown privately once, and stay their owner's."""

from __future__ import annotations

import re
from pathlib import Path

from bot.tiny import TinyBundle
from tests.cogs.harness import bot_settings, ephemeral_reply, running_bot
from tests.fakediscord import FakeDiscord


async def test_create_list_and_revoke_in_discord(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        created = await ephemeral_reply(
            await fake.slash(None, "apikey", {"name": "my script"}, subcommand="create")
        )
        assert created.ephemeral
        key = re.search(r"`(lk_[^`]+)`", created.content)
        secret = re.search(r"`(whsec_[^`]+)`", created.content)
        assert key is not None and secret is not None
        row = await bot.services.keys.authenticate(key.group(1))
        assert row is not None and row.user_id == fake.user.id and row.name == "my script"
        listed = await ephemeral_reply(await fake.slash(None, "apikey", {}, subcommand="list"))
        assert f"{row.id}: `{row.prefix}…` my script — active, never used" in listed.content
        assert key.group(1) not in listed.content  # shown once

        other = fake.add_user("mallory")
        theirs = await ephemeral_reply(
            await fake.slash(other, "apikey", {"key": row.id}, subcommand="revoke")
        )
        assert theirs.content == f"there is no API key {row.id} of yours"
        assert await bot.services.keys.authenticate(key.group(1)) is not None
        none = await ephemeral_reply(await fake.slash(other, "apikey", {}, subcommand="list"))
        assert none.content == "you have no API keys: /apikey create makes one"

        revoked = await ephemeral_reply(
            await fake.slash(None, "apikey", {"key": row.id}, subcommand="revoke")
        )
        assert "is revoked" in revoked.content
        assert await bot.services.keys.authenticate(key.group(1)) is None
        fake.assert_no_violations()
