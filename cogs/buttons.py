"""The result and queue buttons (``cogs.utils.buttons``) and Edit prompt's form
(``cogs.utils.modals``), registered so clicks and submissions reach them after any restart."""

from __future__ import annotations

from bot.app.client import LikenessBot
from cogs.utils import upscale_buttons  # noqa: F401  (its buttons register as they are defined)
from cogs.utils.buttons import JobButton
from cogs.utils.modals import on_edit_form


async def setup(bot: LikenessBot) -> None:
    bot.add_dynamic_items(*JobButton.registered)
    bot.add_listener(on_edit_form, "on_interaction")


async def teardown(bot: LikenessBot) -> None:
    bot.remove_dynamic_items(*JobButton.registered)
    bot.remove_listener(on_edit_form, "on_interaction")
