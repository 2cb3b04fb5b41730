"""Buttons that survive restarts: ``DynamicItem``s whose ``custom_id`` carries the job id.

State is read from the database on every click, never kept in memory, so a button works days
later and after any number of restarts. Ownership is checked on the server for each click.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.client import LikenessBot

ACTIONS = ("reroll", "vary", "delete", "info", "cancel")
_LABELS = {"reroll": "Reroll", "delete": "Delete", "info": "Info", "cancel": "Cancel"}
_STYLES = {
    "delete": discord.ButtonStyle.danger,
    "cancel": discord.ButtonStyle.secondary,
    "reroll": discord.ButtonStyle.primary,
}


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"lk:(?P<action>reroll|vary|delete|info|cancel|addref|fixface):(?P<job>\d+)(?::(?P<idx>\d))?",
):
    def __init__(self, action: str, job_id: int, idx: int | None = None) -> None:
        custom_id = f"lk:{action}:{job_id}" + (f":{idx}" if idx is not None else "")
        if idx is not None:
            label = {"vary": f"Vary {idx + 1}", "fixface": f"Fix face {idx + 1}"}.get(
                action, f"Add {idx + 1} to character"
            )
        else:
            label = _LABELS.get(action, action)
        super().__init__(
            discord.ui.Button(
                label=label, custom_id=custom_id, style=_STYLES.get(action, discord.ButtonStyle.secondary)
            )
        )
        self.action, self.job_id, self.idx = action, job_id, idx

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> JobButton:
        idx = match["idx"]
        return cls(match["action"], int(match["job"]), int(idx) if idx is not None else None)

    async def callback(self, interaction: discord.Interaction) -> None:
        from cogs.actions import handle_button

        bot = interaction.client
        assert isinstance(bot, LikenessBot)
        await handle_button(bot, interaction, self.action, self.job_id, self.idx)


def queued_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("cancel", job_id))
    return view


def result_view(job_id: int, outputs: int, *, character: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ("reroll", "info", "delete"):
        view.add_item(JobButton(action, job_id))
    for idx in range(outputs):
        button = JobButton("vary", job_id, idx)
        button.item.row = 1
        view.add_item(button)
    for row, action in ((2, "fixface"), (3, "addref")):  # face lock only: repair a face, chain a winner
        for idx in range(outputs if character else 0):
            button = JobButton(action, job_id, idx)
            button.item.row = row
            view.add_item(button)
    return view
