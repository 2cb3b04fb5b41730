"""The Upscale buttons (``bot.actions.upscales``), persistent like every job button.

Under a generation: Upscale N per posted output (2×). Under an upscale: Upscale 4× (the same source,
when 4× stays within the bot's limit) and, after a plain one, Add detail (the same factor with the
detail pass). They take row 4 of the result's view; where face lock's Add to character leaves no
room there (3 or 4 outputs), Upscale N is in each output's Zoom/pan panel instead, as it always is.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.actions.upscales import FIRST_FACTOR, MAX_FACTOR, Upscales
from bot.app.client import LikenessBot
from bot.running.queue import Job
from cogs.utils.buttons import PANEL_EXTRAS, JobButton, _queue
from storage import OutputRow

ROW = 4
MAX_ROW = 5  # Discord's buttons per row


class Upscale(JobButton, action="upscale", per_output=True):
    label = "Upscale {n}"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        await self.check_shown(bot, interaction, job)
        draft = await Upscales(bot.services.submissions).upscale(
            job.id, self.output, interaction.user.id, interaction.guild_id
        )
        await _queue(bot, interaction, draft)


PANEL_EXTRAS.append((Upscale, lambda bot: bot.services.runner.capabilities.upscale))


class UpscaleMore(JobButton, action="upmore"):
    label = f"Upscale {MAX_FACTOR:g}×"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        draft = await Upscales(bot.services.submissions).again(
            job.id,
            interaction.user.id,
            interaction.guild_id,
            factor=MAX_FACTOR,
            detail=job.params.strength is not None,
        )
        await _queue(bot, interaction, draft)


class AddDetail(JobButton, action="addetail"):
    label = "Add detail"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        factor = job.params.upscale or FIRST_FACTOR
        draft = await Upscales(bot.services.submissions).again(
            job.id, interaction.user.id, interaction.guild_id, factor=factor, detail=True
        )
        await _queue(bot, interaction, draft)


def add_upscale_buttons(
    view: discord.ui.View, job: Job, posted: Sequence[OutputRow], *, max_megapixels: float, enabled: bool
) -> None:
    """Row 4 of a result's view: nothing when upscaling is off, or for a job with no posted output."""
    if not enabled or not posted:
        return
    factor = job.params.upscale
    if factor is None:
        if sum(1 for item in view.children if item.row == ROW) + len(posted) > MAX_ROW:
            return  # face lock's Add to character fills the row: Upscale is in the Zoom/pan panel
        for output in posted:
            view.add_item(Upscale(job.id, output.idx, row=ROW))
        return
    output = posted[0]
    larger = output.width * output.height * (MAX_FACTOR / factor) ** 2 / 1e6
    if factor < MAX_FACTOR and larger <= max_megapixels:
        view.add_item(UpscaleMore(job.id, row=ROW))
    if job.params.strength is None:
        view.add_item(AddDetail(job.id, row=ROW))
