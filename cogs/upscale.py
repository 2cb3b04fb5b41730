"""``/upscale``: an uploaded picture made larger by the super-resolution model, as a queue job (the
model runs on the GPU worker, in the user's own queue slots); with ``detail``, redrawn over tiles."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions.upscales import DETAIL_STRENGTH, FIRST_FACTOR
from bot.app.client import LikenessBot
from bot.params import UPSCALE_RANGE, JobParams, Mode
from cogs.utils.attachments import submit_upload


class Upscale(commands.Cog):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot

    @app_commands.command(name="upscale", description="Make a picture larger with the super-resolution model")
    @app_commands.describe(
        image="The picture to enlarge (PNG, JPEG, WebP)",
        factor=f"How many times larger each side gets, {UPSCALE_RANGE[0]:g}–{UPSCALE_RANGE[1]:g}; "
        f"{FIRST_FACTOR:g} when left out",
        detail="Then redraw fine detail over tiles with the diffusion model (slower)",
        prompt="With detail: what the picture shows; written from the picture when left out",
    )
    async def upscale(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        factor: app_commands.Range[float, UPSCALE_RANGE[0], UPSCALE_RANGE[1]] = FIRST_FACTOR,
        detail: bool = False,
        prompt: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        params = JobParams(
            prompt=prompt or "",
            mode=Mode.IMG2IMG,
            upscale=factor,
            strength=DETAIL_STRENGTH if detail else None,
        )
        await submit_upload(self.bot.services.submissions, interaction, params, image)


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(Upscale(bot))
