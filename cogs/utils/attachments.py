"""Discord attachments as the bot's uploads: their announced facts, and their bytes."""

from __future__ import annotations

import discord

from bot.actions.submissions import Submissions
from bot.engine.uploads import UploadInfo
from bot.errors import BadImage
from bot.params import JobParams
from cogs.utils.interactions import defer_public, destination_of


def upload_info(attachment: discord.Attachment) -> UploadInfo:
    """What Discord says of the file before it is fetched (name, type, size): the cheap checks' input."""
    return UploadInfo(attachment.filename, attachment.content_type, attachment.size)


async def fetch(attachment: discord.Attachment, what: str) -> bytes:
    """The attachment's bytes from Discord's CDN (after its metadata was checked)."""
    try:
        return await attachment.read()
    except discord.HTTPException as exc:
        raise BadImage(
            f"could not download the {what} from Discord ({exc.status}): attach it again"
        ) from None


async def submit_upload(
    submissions: Submissions, interaction: discord.Interaction, params: JobParams, image: discord.Attachment
) -> None:
    """A one-picture command (/describe, /upscale): checked from the attachment's facts first, then
    acknowledged publicly, fetched and queued, so a refusal costs no download."""
    draft = await submissions.check(
        interaction.user.id, params, image=upload_info(image), guild_id=interaction.guild_id
    )
    message_id = await defer_public(interaction)
    data = await fetch(image, "image")
    await submissions.submit(draft, destination_of(interaction, message_id), image=data)
