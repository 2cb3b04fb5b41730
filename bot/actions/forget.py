"""Forget a user: everything stored about them, on request, the same from ``/forget-me``, the
API's ``DELETE /v1/me`` and the operator's ``python -m bot forget-user``.

Their unfinished jobs are cancelled first; a running one stops at its next step, and forgetting
waits for that (at most ``STOP_WAIT`` seconds). A job still running after that is ``UserBusy``
(nothing deleted: try again). The messages the bot posted for their jobs are returned, so Discord
can remove them too; they would otherwise outlive the data they show.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from storage import CancelResult, Database, ForgetReport, JobRepository, JobRow, MediaStore, forget_user

STOP_WAIT = 30.0
_POLL = 0.25

Cancel = Callable[[int, int], Awaitable[CancelResult[Any]]]  # (job id, user id): the queue's own cancel


@dataclass(frozen=True, slots=True)
class Forgotten:
    report: ForgetReport
    messages: tuple[tuple[int, int], ...]  # (channel id, message id) the bot posted for their jobs


async def forget(
    user_id: int,
    *,
    db: Database,
    media: MediaStore,
    jobs: JobRepository[Any],
    cancel: Cancel,
    stop_wait: float = STOP_WAIT,
) -> Forgotten:
    for job in await jobs.user_jobs(user_id):
        if not job.status.finished:
            await cancel(job.id, user_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stop_wait
    while loop.time() < deadline and any(not j.status.finished for j in await jobs.user_jobs(user_id)):
        await asyncio.sleep(_POLL)
    messages = posted_messages(await jobs.user_jobs(user_id))
    return Forgotten(await forget_user(db, media, user_id), messages)


def posted_messages(rows: list[JobRow[Any]]) -> tuple[tuple[int, int], ...]:
    """(channel id, message id) of every message the bot posted for these jobs: the job's reply
    (queued, progress, result or failure) and a result posted to the channel after the token expired."""
    found: dict[tuple[int, int], None] = {}
    for job in rows:
        for channel_id, message_id in (
            (job.channel_id, job.message_id),
            (job.result_channel_id, job.result_message_id),
        ):
            if channel_id is not None and message_id is not None:
                found[(channel_id, message_id)] = None
    return tuple(found)
