"""The API's limits on who asks how often, all in memory: requests per key and per user (token
buckets: a burst of a minute's allowance, then the steady rate), and failed authentications per
client address (a window of failures, past which that address is refused)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

FAILURE_WINDOW = 600.0  # seconds failed authentications are counted over
_MAX_ADDRESSES = 10_000  # addresses remembered before the expired ones are dropped


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimit:
    """``per_minute`` requests for each id (a key's, a user's)."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}

    def wait(self, id_: Hashable) -> float:
        """0 when one more request of ``id_`` may go ahead now; else the seconds until it may."""
        bucket = self._refill(id_)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / (self.per_minute / 60.0)

    def spend(self, id_: Hashable) -> None:
        self._refill(id_).tokens -= 1

    def take(self, id_: Hashable) -> float:
        """``wait``, and the request counted when it may go ahead."""
        wait = self.wait(id_)
        if not wait:
            self.spend(id_)
        return wait

    def _refill(self, id_: Hashable) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.setdefault(id_, _Bucket(float(self.per_minute), now))
        gained = (now - bucket.updated) * self.per_minute / 60.0
        bucket.tokens = min(float(self.per_minute), bucket.tokens + gained)
        bucket.updated = now
        return bucket


class FailedAuths:
    """At most ``limit`` failed authentications per address in ``window`` seconds. Past them, the
    address is refused every attempt, a right key's too, until its oldest failure leaves the window:
    so guessing keys gets nowhere, and one client's mistakes never lock out another's address."""

    def __init__(
        self, limit: int, window: float = FAILURE_WINDOW, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def wait(self, address: str) -> float:
        """0 when ``address`` may try; else the seconds until it may."""
        failures = self._recent(address)
        if failures is None or len(failures) < self.limit:
            return 0.0
        return max(failures[0] + self.window - self._clock(), 0.001)

    def failed(self, address: str) -> None:
        if address not in self._failures and len(self._failures) >= _MAX_ADDRESSES:
            for known in list(self._failures):
                self._recent(known)
        self._failures.setdefault(address, deque(maxlen=self.limit)).append(self._clock())

    def _recent(self, address: str) -> deque[float] | None:
        """The address's failures still in the window (an address with none is forgotten)."""
        failures = self._failures.get(address)
        if failures is None:
            return None
        start = self._clock() - self.window
        while failures and failures[0] <= start:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures
