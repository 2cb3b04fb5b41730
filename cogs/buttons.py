"""The result and queue buttons (``cogs.utils.buttons``), registered so clicks reach them after any
restart."""

from __future__ import annotations

from bot.app.client import LikenessBot
from cogs.utils import upscale_buttons  # noqa: F401  (its buttons register as they are defined)
from cogs.utils.buttons import JobButton


async def setup(bot: LikenessBot) -> None:
    bot.add_dynamic_items(*JobButton.registered)


async def teardown(bot: LikenessBot) -> None:
    bot.remove_dynamic_items(*JobButton.registered)
