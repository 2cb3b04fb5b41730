"""Who is asking: ``Authorization: Bearer KEY`` → the key's row (its Discord user), and the per-key
rate limit (a token bucket in memory: a burst of a minute's allowance, then the steady rate)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from fastapi import Request

from bot.actions.apikeys import ApiKeys
from bot.api.errors import ApiError
from storage import ApiKeyRow

TOUCH_INTERVAL = 60.0  # seconds between writes of a key's last use


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimit:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[int, _Bucket] = {}

    def take(self, key_id: int) -> float:
        """0 when the request may go ahead; else the seconds until it may."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(key_id, _Bucket(float(self.per_minute), now))
        rate = self.per_minute / 60.0
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate


class Authenticator:
    def __init__(self, keys: ApiKeys, limit: RateLimit) -> None:
        self.keys = keys
        self.limit = limit
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
        key = await self.keys.authenticate(token.strip())
        if key is None:
            raise ApiError(
                401, "unauthorized", "this API key is unknown or revoked", {"WWW-Authenticate": "Bearer"}
            )
        wait = self.limit.take(key.id)
        if wait:
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests: this key may make {self.limit.per_minute} a minute",
                {"Retry-After": str(math.ceil(wait))},
            )
        now = time.monotonic()
        if now - self._touched.get(key.id, -TOUCH_INTERVAL) >= TOUCH_INTERVAL:
            self._touched[key.id] = now
            await self.keys.repo.touch(key.id)
        return key
