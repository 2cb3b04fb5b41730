"""Discord attachments as the bot's uploads: their announced facts, and their bytes."""

from __future__ import annotations

import discord

from bot.engine.uploads import UploadInfo
from bot.errors import BadImage


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
