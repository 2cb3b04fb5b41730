"""``/describe``: four prompts written from an image, as a job in the queue (the captioning model
runs on the GPU worker, in the user's own queue slots); the result carries Use N buttons."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.client import LikenessBot
from bot.choices import DescribeDetail
from bot.params import JobParams, Mode
from cogs.utils.attachments import submit_upload


class Describe(commands.Cog):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot

    @app_commands.command(name="describe", description="Write four prompts from an image")
    @app_commands.describe(
        image="The picture to describe (PNG, JPEG, WebP)",
        detail="A longer, more detailed description (slower)",
    )
    async def describe(
        self, interaction: discord.Interaction, image: discord.Attachment, detail: bool = False
    ) -> None:
        params = JobParams(
            prompt="",
            mode=Mode.IMG2IMG,
            describe=DescribeDetail.DETAILED if detail else DescribeDetail.STANDARD,
        )
        await submit_upload(self.bot.services.submissions, interaction, params, image)


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(Describe(bot))
