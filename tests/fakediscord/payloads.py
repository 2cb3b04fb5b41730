"""Builders for the JSON shapes Discord sends, trimmed to what discord.py 2.7 actually reads.

Kept in one place so every route and gateway event agrees on the same user, member, channel and
message shapes; a missing required key here shows up as a KeyError deep inside discord.py.
"""

from __future__ import annotations

import datetime
import mimetypes
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
ALL_PERMISSIONS = str((1 << 53) - 1)

# Channel types (discord.enums.ChannelType)
CHANNEL_TEXT = 0
CHANNEL_DM = 1

# Message flags
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15


class SnowflakeFactory:
    """Real-looking, strictly increasing snowflakes so ``created_at`` and ordering behave as in Discord."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
            value = max(ms << 22, self._last + 1)
            self._last = value
            return value


def iso_now() -> str:
    """Discord's timestamp format (ISO 8601 with offset)."""
    return datetime.datetime.now(datetime.UTC).isoformat()


def new_token(prefix: str = "aW50ZXJhY3Rpb24") -> str:
    """An opaque, URL-safe interaction token (the real ones are base64-ish too)."""
    return f"{prefix}{secrets.token_urlsafe(36)}"


@dataclass(eq=False)
class FakeUser:
    """A Discord user the fake can act as (invoke commands, click buttons, own messages)."""

    id: int
    name: str
    bot: bool = False
    global_name: str | None = None
    roles: list[int] = field(default_factory=list)
    permissions: str = ALL_PERMISSIONS
    joined_at: str = field(default_factory=iso_now)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.global_name or self.name,
            "avatar": None,
            "public_flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data

    def member_payload(self, *, with_user: bool = True, with_permissions: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.payload()
        if with_permissions:
            data["permissions"] = self.permissions
        return data

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


def channel_payload(
    channel_id: int, *, guild_id: int | None, name: str, position: int = 0, type_: int = CHANNEL_TEXT
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(channel_id),
        "type": type_,
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    return data


def dm_channel_payload(channel_id: int, recipient: FakeUser) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": CHANNEL_DM,
        "last_message_id": None,
        "recipients": [recipient.payload()],
        "flags": 0,
    }


def everyone_role(guild_id: int) -> dict[str, Any]:
    return {
        "id": str(guild_id),
        "name": "@everyone",
        "permissions": ALL_PERMISSIONS,
        "position": 0,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def guild_payload(
    guild_id: int,
    *,
    name: str,
    owner_id: int,
    channels: list[dict[str, Any]],
    members: list[dict[str, Any]],
) -> dict[str, Any]:
    """A full GUILD_CREATE body (available guild, no threads, no voice)."""
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "vanity_url_code": None,
        "application_id": None,
        "features": [],
        "roles": [everyone_role(guild_id)],
        "emojis": [],
        "stickers": [],
        "channels": channels,
        "threads": [],
        "members": members,
        "member_count": len(members),
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "large": False,
        "unavailable": False,
        "joined_at": iso_now(),
        "max_members": 500000,
    }


def sniff_content_type(data: bytes, filename: str, declared: str | None) -> str | None:
    """Discord reports the sniffed type, not the multipart part's ``application/octet-stream``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed = mimetypes.guess_type(filename)[0]
    if guessed:
        return guessed
    if declared and declared != "application/octet-stream":
        return declared
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width/height for PNGs (Discord includes them for images); other formats are left out."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None
