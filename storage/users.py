"""Forget-me: delete everything stored about one user.

Running jobs are refused, not killed: the worker is reading that job's files and will write its
results, so ``forget_user`` raises ``UserBusy`` (nothing deleted) while any of the user's jobs is
running. The bot cancels them (``JobQueue.cancel``) and calls again once they have stopped.
Queued and finished jobs are simply deleted (a queued job can no longer be claimed afterwards:
claiming and forgetting are both transactions, so one of them sees the other's result).

Other users' rows are never touched, except that links to the forgotten rows are cut by the
schema (``jobs.parent_job_id``/``jobs.character_id`` become NULL). A media file that another
user's row also uses (e.g. someone varied this user's output) is kept for that row.

Deletion runs with ``PRAGMA secure_delete`` and is followed by a WAL checkpoint, so the
forgotten names and face embeddings are overwritten rather than left in free pages or the WAL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from storage.db import Database
from storage.errors import UserBusy
from storage.media import MediaStore
from storage.media_rows import MediaRows, secure_delete

log = logging.getLogger(__name__)

# Every table with a user_id column, i.e. the rows a user owns directly; everything else a user
# owns hangs off these by ON DELETE CASCADE (job_outputs, reference_images). A test compares this
# with the schema, so a new per-user table cannot be forgotten by forget_user.
USER_TABLES: tuple[str, ...] = ("characters", "jobs", "user_last_served", "api_keys")

# Tables with a user_id that forgetting a user keeps on purpose: a ban is the server's moderation
# record (forgetting oneself must not lift it), and today's charges are the daily quota (forgetting
# must not reset it). Both hold ids and dates only, no prompt and no media.
KEPT_TABLES: tuple[str, ...] = ("bans", "daily_charges")

# For every entry of storage.schema.MEDIA_REFERENCES: the media that user :user's rows reference
# there (a test checks the keys match, so a new media column cannot be missed).
USER_MEDIA: dict[tuple[str, str], str] = {
    ("jobs", "input_media"): "SELECT input_media FROM jobs WHERE user_id = :user AND input_media IS NOT NULL",
    ("jobs", "mask_media"): "SELECT mask_media FROM jobs WHERE user_id = :user AND mask_media IS NOT NULL",
    ("jobs", "structure_media"): (
        "SELECT structure_media FROM jobs WHERE user_id = :user AND structure_media IS NOT NULL"
    ),
    ("job_outputs", "media"): (
        "SELECT o.media FROM job_outputs AS o JOIN jobs AS j ON j.id = o.job_id WHERE j.user_id = :user"
    ),
    ("reference_images", "media"): (
        "SELECT r.media FROM reference_images AS r JOIN characters AS c ON c.id = r.character_id "
        "WHERE c.user_id = :user"
    ),
}

_COUNTS = """
SELECT (SELECT COUNT(*) FROM characters WHERE user_id = :user) AS characters,
       (SELECT COUNT(*) FROM reference_images AS r JOIN characters AS c ON c.id = r.character_id
        WHERE c.user_id = :user) AS images,
       (SELECT COUNT(*) FROM jobs WHERE user_id = :user) AS jobs,
       (SELECT COUNT(*) FROM job_outputs AS o JOIN jobs AS j ON j.id = o.job_id
        WHERE j.user_id = :user) AS outputs
"""


@dataclass(frozen=True, slots=True)
class ForgetReport:
    """What was deleted: rows by kind, and media files no longer used by anyone."""

    characters: int
    images: int
    jobs: int
    outputs: int
    files: int

    @property
    def nothing(self) -> bool:
        return not (self.characters or self.images or self.jobs or self.outputs or self.files)


async def forget_user(db: Database, media: MediaStore, user_id: int) -> ForgetReport:
    """Delete all of ``user_id``'s characters, reference images and embeddings, jobs and their
    outputs, queue bookkeeping, and every media file nothing else references. Atomic: raises
    ``UserBusy`` (nothing changed) while one of the user's jobs is running."""
    files = MediaRows(db, media)
    params = {"user": user_id}
    async with secure_delete(db, "forget_user"):
        async with db.transaction():
            running = await db.fetchall(
                "SELECT id FROM jobs WHERE user_id = :user AND status = 'running' ORDER BY id", params
            )
            if running:
                raise UserBusy([r[0] for r in running])
            counts = await db.fetchone(_COUNTS, params)
            assert counts is not None
            shas = {r[0] for sql in USER_MEDIA.values() for r in await db.fetchall(sql, params)}
            for table in USER_TABLES:
                # Identifiers come from the constant above, never from input.
                await db.execute(f"DELETE FROM {table} WHERE user_id = :user", params)
            removed = await files.delete_unreferenced(shas)
        await files.remove_files(removed)
    report = ForgetReport(
        characters=counts["characters"],
        images=counts["images"],
        jobs=counts["jobs"],
        outputs=counts["outputs"],
        files=len(removed),
    )
    log.info("forgot user %d: %s", user_id, report)
    return report
