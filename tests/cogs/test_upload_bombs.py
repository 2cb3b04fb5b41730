"""Compressed bombs attached in Discord (a /generate image and mask, a /character image): a private
refusal naming the size each claims, before its pixels are decoded or its canvas reserved; no job, no
character, no media file is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.tiny import TinyBundle
from tests.bot.engine.bombs import BOMBS, refusal, spying
from tests.cogs.harness import (
    bot_settings,
    generate,
    jobs,
    media_files,
    png_attachment,
    private_error,
    running_bot,
)
from tests.cogs.test_characters import character
from tests.fakediscord import FakeDiscord


async def test_bombs_attached_in_discord(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        with spying(monkeypatch) as spies:
            for name, (make, size) in BOMBS.items():
                data = make()
                image = fake.add_attachment(data, f"{name}.png", "image/png")
                assert refusal(size) in await private_error(
                    fake, await generate(fake, None, "a", image=image)
                )
                mask = fake.add_attachment(data, f"{name}-mask.png", "image/png")
                inpaint = await generate(
                    fake, None, "a", image=png_attachment(fake), mask=mask, mode="inpaint"
                )
                assert refusal(size, "mask") in await private_error(fake, inpaint)
                made = await character(
                    fake,
                    None,
                    "create",
                    {"name": "Bomb", "image": fake.add_attachment(data, "f.png", "image/png")},
                )
                assert refusal(size, "reference") in made.content, made.content
                assert await jobs(bot) == []
                assert await bot.services.db.fetchall("SELECT id FROM characters") == []
                assert media_files(data_dir) == []
        assert not spies.bomb_touched, spies
