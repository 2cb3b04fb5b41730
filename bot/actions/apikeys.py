"""API keys as the bot hands them out: a key acts as one Discord user (their characters, limits,
fair-queue turn and history), is shown once, and only its hash is kept.

A key is 32 random bytes, so one unsalted SHA-256 is enough to store it: nothing can be guessed
from the hash, and looking a key up stays one indexed read per request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field

from bot.errors import Gone, InvalidRequest
from storage import ApiKeyRepository, ApiKeyRow

KEY_PREFIX = "lk_"
SECRET_PREFIX = "whsec_"  # the Standard Webhooks form: base64 of the signing key's bytes
MAX_NAME = 100
MAX_KEYS_PER_USER = 20


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: ``key`` is shown to its owner once and never again."""

    row: ApiKeyRow
    key: str = field(repr=False)

    @property
    def webhook_secret(self) -> str:
        return self.row.webhook_secret


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    def __init__(self, repo: ApiKeyRepository) -> None:
        self.repo = repo

    async def create(self, user_id: int, name: str = "", *, allow_nsfw: bool = False) -> NewKey:
        """``allow_nsfw``: the key may fetch outputs flagged NSFW (off: the API withholds them)."""
        name = " ".join(name.split())
        if len(name) > MAX_NAME:
            raise InvalidRequest(f"a key's name must be at most {MAX_NAME} characters")
        active = [k for k in await self.repo.list(user_id) if k.active]
        if len(active) >= MAX_KEYS_PER_USER:
            raise InvalidRequest(
                f"you already have {len(active)} API keys, the most allowed: revoke one first"
            )
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
        row = await self.repo.create(
            user_id,
            name,
            key_hash=key_hash(key),
            prefix=key[:10],
            webhook_secret=secret,
            allow_nsfw=allow_nsfw,
        )
        return NewKey(row, key)

    async def authenticate(self, key: str) -> ApiKeyRow | None:
        """The active key this is, else None (unknown, malformed or revoked alike)."""
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        row = await self.repo.by_hash(key_hash(key))
        if row is None or not row.active or not secrets.compare_digest(row.prefix, key[:10]):
            return None
        return row

    async def holds(self, key_id: int) -> bool:
        """Whether a key authenticated earlier still works: not revoked, not forgotten with its user."""
        row = await self.repo.get(key_id)
        return row is not None and row.active

    async def allows_nsfw(self, key_id: int) -> bool:
        """Whether the key may have outputs flagged NSFW (False for a key gone or revoked)."""
        row = await self.repo.get(key_id)
        return row is not None and row.active and row.allow_nsfw

    async def list(self, user_id: int) -> list[ApiKeyRow]:
        return await self.repo.list(user_id)

    async def revoke(self, key_id: int, *, user_id: int | None = None) -> ApiKeyRow:
        """``user_id``: only that user's key (Discord); None: any key (the operator's command line)."""
        row = await self.repo.revoke(key_id, user_id=user_id)
        if row is None:
            raise Gone(f"there is no API key {key_id}" + (" of yours" if user_id is not None else ""))
        return row

    async def set_allow_nsfw(self, key_id: int, allow: bool, *, user_id: int | None = None) -> ApiKeyRow:
        """Let the key fetch outputs flagged NSFW, or stop it; ``user_id`` as for ``revoke``."""
        row = await self.repo.set_allow_nsfw(key_id, allow, user_id=user_id)
        if row is None:
            raise Gone(f"there is no API key {key_id}" + (" of yours" if user_id is not None else ""))
        return row
