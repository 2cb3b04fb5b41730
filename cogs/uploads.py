"""Fetch an attachment from Discord after its cheap metadata checks."""

from __future__ import annotations

import discord

from bot.attachments import check_metadata
from bot.errors import BadImage


async def download(attachment: discord.Attachment, what: str) -> bytes:
    check_metadata(attachment.filename, attachment.content_type, attachment.size, what)
    try:
        return await attachment.read()
    except discord.HTTPException as exc:
        raise BadImage(
            f"could not download the {what} from Discord ({exc.status}): attach it again"
        ) from None
