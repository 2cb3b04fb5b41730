"""Start the real bot (``bot.client.serve``, as ``python -m bot run`` does) against the fake Discord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bot.client import LikenessBot, serve
from bot.engine.tiny import TinyBundle
from bot.settings import Settings, load_settings
from tests.fakediscord import FakeDiscord


def bot_settings(bundle: TinyBundle, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"discord_token": "fake-bot-token", "data_dir": data_dir, "default_steps": 4}
    values.update(overrides)
    return load_settings(bundle.env_file, **values)


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord, settings: Settings, timeout: float = 30
) -> AsyncIterator[LikenessBot]:
    fake.install()
    holder: list[LikenessBot] = []
    task = asyncio.create_task(serve(settings, on_bot=holder.append, guild_ready_timeout=0.02))
    try:
        async with asyncio.timeout(timeout):
            while not holder or not holder[0].is_ready():
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield holder[0]
    finally:
        if holder:
            await holder[0].close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
