"""A private yes/no for destructive or lasting actions."""

from __future__ import annotations

from typing import Any

import discord


class Confirm(discord.ui.View):
    """A private yes/no for destructive actions, usable only by the person who asked."""

    def __init__(self, owner_id: int, label: str) -> None:
        super().__init__(timeout=120)
        self.owner_id = owner_id
        self.confirmed: bool | None = None
        self.confirm.label = label

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.owner_id

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.confirmed = True
        await interaction.response.edit_message(content="Working…", view=None)
        self.stop()

    @discord.ui.button(label="Keep", style=discord.ButtonStyle.secondary)
    async def keep(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.confirmed = False
        await interaction.response.edit_message(content="Nothing was deleted.", view=None)
        self.stop()
