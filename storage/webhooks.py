"""The webhook outbox: one row per job and event, written when the event happens and kept until
delivered or given up, so a delivery survives a restart and no event is sent for a job twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from storage.db import Database

_FINISHED = ("done", "failed", "cancelled")


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    id: int
    job_id: int
    event: str
    url: str = field(repr=False)  # a client's URL: may carry ?token=… or user:pass@
    body: str
    attempts: int
    created_at: float
    # the key's webhook secret; None once the key is revoked (nothing is sent)
    secret: str | None = field(repr=False)


class WebhookOutbox:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def enqueue(self, job_id: int, event: str, url: str, api_key_id: int, body: str) -> bool:
        """Add a delivery; False when this job already has one for ``event`` (it fires once)."""
        now = self._clock()
        result = await self._db.execute(
            "INSERT OR IGNORE INTO webhook_deliveries "
            "(job_id, event, url, api_key_id, body, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job_id, event, url, api_key_id, body, now, now),
        )
        return result.rowcount == 1

    async def due(self, limit: int = 20, skip: Collection[int] = ()) -> list[WebhookDelivery]:
        """Deliveries whose time has come, oldest first; ``skip``: ids already being sent."""
        rows = await self._db.fetchall(
            "SELECT w.id, w.job_id, w.event, w.url, w.body, w.attempts, w.created_at, "
            "CASE WHEN k.revoked_at IS NULL THEN k.webhook_secret END "
            "FROM webhook_deliveries AS w JOIN api_keys AS k ON k.id = w.api_key_id "
            "WHERE w.delivered_at IS NULL AND w.gave_up_at IS NULL AND w.next_at <= ? "
            f"AND w.id NOT IN ({_marks(skip)}) ORDER BY w.next_at, w.id LIMIT ?",
            (self._clock(), *skip, limit),
        )
        return [WebhookDelivery(*r) for r in rows]

    async def next_due(self, skip: Collection[int] = ()) -> float | None:
        """When the soonest pending delivery not in ``skip`` is due (unix seconds); None when none is."""
        value = await self._db.fetchval(
            "SELECT MIN(next_at) FROM webhook_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL "
            f"AND id NOT IN ({_marks(skip)})",
            tuple(skip),
        )
        return None if value is None else float(value)

    async def delivered(self, delivery_id: int) -> None:
        await self._db.execute(
            "UPDATE webhook_deliveries SET delivered_at = ?, attempts = attempts + 1, last_error = NULL "
            "WHERE id = ?",
            (self._clock(), delivery_id),
        )

    async def retry_later(self, delivery_id: int, delay: float, error: str) -> None:
        await self._db.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?",
            (self._clock() + delay, error[:500], delivery_id),
        )

    async def give_up(self, delivery_id: int, error: str) -> None:
        await self._db.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, gave_up_at = ?, last_error = ? "
            "WHERE id = ?",
            (self._clock(), error[:500], delivery_id),
        )

    async def get(self, job_id: int, event: str) -> dict[str, object] | None:
        """A delivery's state, for tests and the operator."""
        row = await self._db.fetchone(
            "SELECT attempts, delivered_at, gave_up_at, last_error FROM webhook_deliveries "
            "WHERE job_id = ? AND event = ?",
            (job_id, event),
        )
        return None if row is None else dict(row)

    async def finished_without(self, event: str, limit: int = 100) -> list[int]:
        """Finished API jobs with a webhook and no ``event`` delivery: the ones whose event happened
        while nothing was listening (the bot stopped between the job's end and the outbox write)."""
        rows = await self._db.fetchall(
            "SELECT j.id FROM jobs AS j INDEXED BY jobs_by_api_key WHERE j.api_key_id IS NOT NULL "
            "AND j.webhook_url IS NOT NULL AND j.status IN (?, ?, ?) AND NOT EXISTS "
            "(SELECT 1 FROM webhook_deliveries AS w WHERE w.job_id = j.id AND w.event = ?) "
            "ORDER BY j.id LIMIT ?",
            (*_FINISHED, event, limit),
        )
        return [r[0] for r in rows]


def _marks(ids: Collection[int]) -> str:
    return ", ".join("?" * len(ids))
