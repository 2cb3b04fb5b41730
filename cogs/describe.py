"""``/describe``: four prompts written from an image, as a job in the queue (the captioning model
runs on the GPU worker, in the user's own queue slots); the result carries Use N buttons."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.client import LikenessBot
from bot.choices import DescribeDetail
from bot.params import JobParams, Mode
from cogs.utils.attachments import fetch, upload_info
from cogs.utils.interactions import defer_public, destination_of


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
        submissions = self.bot.services.submissions
        draft = await submissions.check(
            interaction.user.id, params, image=upload_info(image), guild_id=interaction.guild_id
        )
        message_id = await defer_public(interaction)
        data = await fetch(image, "image")
        await submissions.submit(draft, destination_of(interaction, message_id), image=data)


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(Describe(bot))
