"""Who is asking: ``Authorization: Bearer KEY`` → the key's row (its Discord user), within the rate
limits (``bot.api.limits``): per key, per user (a user may hold many keys), and failed attempts per
client address."""

from __future__ import annotations

import logging
import math
import time

from fastapi import Request

from bot.actions.apikeys import ApiKeys
from bot.actions.guilds import GuildActions
from bot.api.errors import ApiError
from bot.api.limits import FailedAuths, RateLimit
from bot.errors import Banned
from storage import ApiKeyRow

log = logging.getLogger(__name__)

TOUCH_INTERVAL = 60.0  # seconds between writes of a key's last use


class Authenticator:
    def __init__(
        self,
        keys: ApiKeys,
        limit: RateLimit,
        user_limit: RateLimit,
        failures: FailedAuths,
        guilds: GuildActions | None = None,
    ) -> None:
        """``guilds``: the bans; a user the bot's owner banned everywhere has every key refused."""
        self.guilds = guilds
        self.keys = keys
        self.limit = limit
        self.user_limit = user_limit
        self.failures = failures
        self._touched: dict[int, float] = {}

    async def __call__(self, request: Request) -> ApiKeyRow:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "unauthorized",
                "this needs an API key: send Authorization: Bearer KEY (python -m bot api-key create)",
                {"WWW-Authenticate": "Bearer"},
            )
        address = request.client.host if request.client else "unknown"
        locked = self.failures.wait(address)
        if locked:
            raise ApiError(
                429,
                "rate_limited",
                f"too many unknown or revoked API keys from your address ({self.failures.limit} in "
                f"{self.failures.window / 60:g} minutes): no key is accepted from it for now",
                {"Retry-After": str(math.ceil(locked))},
            )
        key = await self.keys.authenticate(token.strip())
        if key is None:
            self.failures.failed(address)
            log.info("an unknown or revoked API key from %s", address)
            raise ApiError(
                401, "unauthorized", "this API key is unknown or revoked", {"WWW-Authenticate": "Bearer"}
            )
        if self.guilds is not None:
            try:
                await self.guilds.check_member(key.user_id, None)
            except Banned as ban:
                raise ApiError(403, Banned.code, str(ban)) from None
        self._within_rate(key)
        now = time.monotonic()
        if now - self._touched.get(key.id, -TOUCH_INTERVAL) >= TOUCH_INTERVAL:
            self._touched[key.id] = now
            await self.keys.repo.touch(key.id)
        return key

    def _within_rate(self, key: ApiKeyRow) -> None:
        """Counted against the key and its user only when both allow it."""
        key_wait, user_wait = self.limit.wait(key.id), self.user_limit.wait(key.user_id)
        if key_wait or user_wait:
            if key_wait >= user_wait:
                message = f"too many requests: this key may make {self.limit.per_minute} a minute"
            else:
                message = (
                    f"too many requests: your keys together may make {self.user_limit.per_minute} a minute"
                )
            wait = max(key_wait, user_wait)
            raise ApiError(429, "rate_limited", message, {"Retry-After": str(math.ceil(wait))})
        self.limit.spend(key.id)
        self.user_limit.spend(key.user_id)
