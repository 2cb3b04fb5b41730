"""The durable job queue: creation with limits, the fair pick, results, history and clean-up.

Write order, everywhere: files first (pinned), then one transaction for the rows, then — still
holding the database — remove files that no row ended up using. A crash between the steps can
leave an orphan file (``sweep_orphan_files`` at start-up) but never a row without its file. The
file/row bookkeeping is shared with other repositories in ``storage.media_rows``.

Fairness is round-robin over users: the next job belongs to the user with queued work who was
served least recently (never-served first, ties by their oldest queued job id), and is that
user's oldest queued job. ``user_last_served`` keeps a monotonically increasing serve counter,
so the order survives restarts and never depends on clock resolution.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Generic

from storage import daily
from storage.daily import DailyCap
from storage.db import Database
from storage.errors import QueueFull
from storage.fair import Head, next_warm, pick
from storage.media import MediaStore, PutResult, normalize_ext
from storage.media_rows import FileSpec, MediaKey, MediaRows
from storage.rows import (
    FINISHED_STATUSES,
    JOB_COLUMNS,
    NEW_JOB_COLUMNS,
    CancelOutcome,
    CancelResult,
    JobRow,
    JobStatus,
    NewJob,
    OutputData,
    OutputRow,
    P,
    ParamsCodec,
    QueueEntry,
)
from storage.schema import MEDIA_REFERENCES
from storage.usage import NewFile, check_quota, new_files

log = logging.getLogger(__name__)

RESTARTED_TWICE = "the bot restarted twice while running this job"

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_FINISHED = tuple(sorted(s.value for s in FINISHED_STATUSES))

# Per-user limit counts queued + running (a user's running job still occupies "their" slots);
# the total limit counts queued only (the worker's running job is not waiting).
_COUNT_ACTIVE = """
SELECT (SELECT COUNT(*) FROM jobs WHERE user_id = ? AND status IN ('queued', 'running')) AS user_active,
       (SELECT COUNT(*) FROM jobs INDEXED BY jobs_queued WHERE status = 'queued') AS total_queued
"""

# Each user's head (their oldest queued job) in the fair order; fair_order() simulates the same rule.
_HEADS = """
SELECT q.first_id AS id, q.user_id, COALESCE(j.model, :default) AS model,
       COALESCE(s.served_seq, 0) AS served_seq
FROM (
    SELECT user_id, MIN(id) AS first_id FROM jobs INDEXED BY jobs_queued_by_user
    WHERE status = 'queued' GROUP BY user_id
) AS q
JOIN jobs AS j ON j.id = q.first_id
LEFT JOIN user_last_served AS s ON s.user_id = q.user_id
ORDER BY COALESCE(s.served_seq, 0), q.first_id
"""
_ROUND = """
SELECT (SELECT COALESCE(MAX(served_seq), 0) FROM user_last_served) AS newest,
       (SELECT seq FROM fair_round WHERE id = 1) AS round
"""
_CLAIM = """
UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = :now
WHERE id = :id AND status = 'queued'
{returning}
"""
_MARK_SERVED = """
INSERT INTO user_last_served (user_id, served_seq, served_at)
VALUES (:user_id, (SELECT COALESCE(MAX(served_seq), 0) + 1 FROM user_last_served), :now)
ON CONFLICT (user_id) DO UPDATE SET served_seq = excluded.served_seq, served_at = excluded.served_at
"""
# One statement, so one consistent snapshot that even a write lock held elsewhere does not block.
_QUEUE_SNAPSHOT = """
SELECT j.id, j.user_id, j.status, s.served_seq, COALESCE(j.model, :default) AS model,
       (SELECT COALESCE(MAX(served_seq), 0) FROM user_last_served) AS newest,
       (SELECT seq FROM fair_round WHERE id = 1) AS round
FROM jobs AS j INDEXED BY jobs_running
LEFT JOIN user_last_served AS s ON s.user_id = j.user_id WHERE j.status = 'running'
UNION ALL
SELECT j.id, j.user_id, j.status, s.served_seq, COALESCE(j.model, :default) AS model,
       (SELECT COALESCE(MAX(served_seq), 0) FROM user_last_served) AS newest,
       (SELECT seq FROM fair_round WHERE id = 1) AS round
FROM jobs AS j INDEXED BY jobs_queued
LEFT JOIN user_last_served AS s ON s.user_id = j.user_id WHERE j.status = 'queued'
"""
_INSERT_OUTPUTS = (
    "INSERT INTO job_outputs (job_id, idx, media, seed, width, height, identity, nsfw) VALUES {values}"
)
# For each table of ``MEDIA_REFERENCES``: the column naming the job its rows belong to (None: rows
# that are no job's). A new media column's table must be listed here, or importing fails.
_JOB_OF: dict[str, str | None] = {"jobs": "id", "job_outputs": "job_id", "reference_images": None}
# The media that the jobs :ids (a JSON list) reference, from every job-owned media column.
_JOBS_MEDIA = " UNION ".join(
    f"SELECT {column} AS sha FROM {table} WHERE {key} IN (SELECT value FROM json_each(:ids)) "
    f"AND {column} IS NOT NULL"
    for table, column in MEDIA_REFERENCES
    if (key := _JOB_OF[table]) is not None
)


class JobRepository(Generic[P]):
    """All job persistence. Every public method is atomic: it fully happens or leaves no trace.

    A job's parameters are stored as the columns ``params`` names (the bot's record; see
    ``ParamsCodec``), each added by a migration like any other column."""

    def __init__(
        self,
        db: Database,
        media: MediaStore,
        *,
        params: ParamsCodec[P],
        clock: Callable[[], float] = time.time,
        max_attempts: int = 2,
        min_free_bytes: int = 0,
    ) -> None:
        """``clock`` returns unix seconds (injectable for tests); a job left running by a crash is
        requeued until it has been claimed ``max_attempts`` times, then failed. No file is written
        (inputs or outputs) when it would leave less than ``min_free_bytes`` free on the disk."""
        bad = [c for c in params.columns if not _IDENTIFIER.fullmatch(c)]
        if bad:  # they become SQL identifiers, which cannot be bound as parameters
            raise ValueError(f"parameter columns must be plain identifiers: {bad}")
        self._params = params
        columns = ", ".join((*JOB_COLUMNS, *params.columns))
        self._select = f"SELECT {columns} FROM jobs"
        self._returning = f"RETURNING {columns}"
        inserted = (*NEW_JOB_COLUMNS, *params.columns, "input_media", "mask_media", "status", "created_at")
        self._insert = (
            f"INSERT INTO jobs ({', '.join(inserted)}) "
            f"VALUES ({', '.join(':' + c for c in inserted)}) {self._returning}"
        )
        self._claim = _CLAIM.format(returning=self._returning)
        self._db = db
        self._media = media
        self._files = MediaRows(db, media, min_free_bytes=min_free_bytes)
        self._clock = clock
        self._max_attempts = max_attempts

    # -- creating -----------------------------------------------------------------------------

    async def create_job(
        self,
        fields: NewJob[P],
        input: FileSpec | None = None,
        mask: FileSpec | None = None,
        *,
        per_user_limit: int,
        total_limit: int,
        in_flight: int = 0,
        max_stored_bytes: int | None = None,
        daily_caps: Sequence[DailyCap] = (),
    ) -> JobRow[P]:
        """Queue a job. Raises ``QueueFull`` (queue limits; ``in_flight`` is the user's other work
        counted against ``per_user_limit``), ``QuotaExceeded`` (the inputs would take what the user
        stores over ``max_stored_bytes``), ``DailyQuotaReached`` (one of ``daily_caps``) or
        ``DiskFull`` — with nothing written. Every job is counted on its day (``storage.daily``), so a
        cap set later in the day counts the jobs before it.

        The limits are read before any file is written (no work for a refused job) and checked again
        in the inserting transaction, which is what makes them hold under concurrent submits. Outputs
        are not held to the quota: an accepted job's results are always stored (``mark_done``), so the
        quota refuses the next submit instead."""
        specs = [spec for spec in (input, mask) if spec is not None]
        for _, ext in specs:
            normalize_ext(ext)  # a programming error, refused before any work
        new = await asyncio.to_thread(new_files, specs) if specs and max_stored_bytes is not None else []
        await self._check_room(
            fields.user_id, per_user_limit, total_limit, in_flight, new, max_stored_bytes, daily_caps
        )
        written: list[PutResult] = []
        described: set[MediaKey] | None = None
        try:
            await self._files.write(specs, written)
            by_role = iter(written)
            input_sha = next(by_role).sha256 if input is not None else None
            mask_sha = next(by_role).sha256 if mask is not None else None
            now = self._clock()
            async with self._db.transaction():
                await self._check_room(
                    fields.user_id,
                    per_user_limit,
                    total_limit,
                    in_flight,
                    [(p.sha256, p.size) for p in written],
                    max_stored_bytes,
                    daily_caps,
                )
                stored = await self._files.insert(written, now)
                values: dict[str, Any] = {**fields.own_columns(), **self._params.encode(fields.params)}
                values.update(input_media=input_sha, mask_media=mask_sha, status="queued", created_at=now)
                row = await self._db.fetchone(self._insert, values)
                assert row is not None
                await daily.charge(self._db, row["id"], fields.user_id, fields.guild_id, now)
            described = stored
            job = self._row(row)
            log.debug("queued job %d for user %d", job.id, job.user_id)
            return job
        finally:
            await self._files.settle(written, described)

    async def check_room(
        self,
        user_id: int,
        *,
        per_user_limit: int,
        total_limit: int,
        in_flight: int = 0,
        max_stored_bytes: int | None = None,
        daily_caps: Sequence[DailyCap] = (),
    ) -> None:
        """Cheap reads (a few counts, one sum, a statvfs): raise what ``create_job`` would for one more
        job without inputs — so a request can be refused before its attachments are even fetched."""
        await self._check_room(
            user_id, per_user_limit, total_limit, in_flight, [], max_stored_bytes, daily_caps
        )
        self._files.check_free()

    async def used_today(self, user_id: int, guild_id: int | None = None) -> int:
        """Jobs counted today (UTC) against a cap of ``guild_id`` (None: all the user's)."""
        return await daily.used(self._db, user_id, guild_id, self._clock())

    async def active_jobs(self, user_id: int) -> int:
        """The user's jobs waiting or running: what the per-user limit counts."""
        count = await self._db.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND status IN ('queued', 'running')", (user_id,)
        )
        return int(count or 0)

    async def _check_room(
        self,
        user_id: int,
        per_user_limit: int,
        total_limit: int,
        in_flight: int,
        new: Sequence[NewFile],
        max_stored_bytes: int | None,
        daily_caps: Sequence[DailyCap] = (),
    ) -> None:
        counts = await self._db.fetchone(_COUNT_ACTIVE, (user_id,))
        assert counts is not None
        user_active, total_queued = int(counts[0]), int(counts[1])
        if user_active + in_flight >= per_user_limit:
            raise QueueFull("user", per_user_limit, user_active, in_flight)
        if total_queued >= total_limit:
            raise QueueFull("total", total_limit, total_queued)
        await daily.check(self._db, user_id, daily_caps, self._clock())
        await check_quota(self._db, user_id, new, max_stored_bytes)

    # -- the fair queue -----------------------------------------------------------------------

    async def claim_next(
        self, warm: Sequence[str] = (), default_model: str | None = None
    ) -> JobRow[P] | None:
        """Take the next job by the fair rule and mark it running; None when nothing is queued.

        ``warm``: the models loaded where the job would run; within a round their jobs go first
        (``storage.fair``). A job naming no model runs on ``default_model``."""
        now = self._clock()
        async with self._db.transaction():
            rows = await self._db.fetchall(_HEADS, {"default": default_model})
            if not rows:
                return None
            state = await self._db.fetchone(_ROUND)
            assert state is not None, "migration 0012 made the round's row"
            heads = [Head(r["id"], r["user_id"], r["model"], r["served_seq"]) for r in rows]
            choice = pick(heads, warm, round_seq=state["round"], newest_seq=state["newest"])
            if choice.round_seq != state["round"]:
                await self._db.execute("UPDATE fair_round SET seq = ? WHERE id = 1", (choice.round_seq,))
            if choice.chosen is not heads[0]:
                log.info(
                    "job %d (model %s) goes before job %d (model %s) in this round: its model is loaded",
                    choice.chosen.job_id,
                    choice.chosen.model,
                    heads[0].job_id,
                    heads[0].model,
                )
            row = await self._db.fetchone(self._claim, {"now": now, "id": choice.chosen.job_id})
            assert row is not None, "the head was read in this transaction"
            await self._db.fetchall(_MARK_SERVED, {"user_id": row["user_id"], "now": now})
        job = self._row(row)
        log.debug("claimed job %d (user %d, attempt %d)", job.id, job.user_id, job.attempts)
        return job

    async def fair_order(
        self, warm: Sequence[str] = (), default_model: str | None = None, keep: int = 1
    ) -> list[QueueEntry]:
        """Running jobs (position 0) then every queued job in the order ``claim_next`` takes them,
        were the loaded models to change only as the jobs ahead need them (``keep`` at once).

        Simulates the SQL rule from one consistent snapshot."""
        rows = await self._db.fetchall(_QUEUE_SNAPSHOT, {"default": default_model})
        running = sorted((r for r in rows if r["status"] == "running"), key=lambda r: r["id"])
        entries = [QueueEntry(r["id"], r["user_id"], JobStatus.RUNNING, 0) for r in running]
        per_user: dict[int, deque[Head]] = {}
        for r in sorted((r for r in rows if r["status"] == "queued"), key=lambda r: r["id"]):
            per_user.setdefault(r["user_id"], deque()).append(
                Head(r["id"], r["user_id"], r["model"], r["served_seq"] or 0)
            )
        # After a serve, SQL gives the user MAX(served_seq)+1; only the order relative to the users
        # still waiting matters, so counting on from the snapshot's maximum is equivalent.
        newest, round_seq = (rows[0]["newest"], rows[0]["round"]) if rows else (0, 0)
        loaded: list[str | None] = list(warm)
        position = 0
        while per_user:
            heads = sorted((jobs[0] for jobs in per_user.values()), key=lambda h: (h.served_seq, h.job_id))
            choice = pick(heads, loaded, round_seq=round_seq, newest_seq=newest)
            chosen, round_seq = choice.chosen, choice.round_seq
            position += 1
            entries.append(QueueEntry(chosen.job_id, chosen.user_id, JobStatus.QUEUED, position))
            loaded = next_warm(loaded, chosen.model, keep)
            jobs = per_user[chosen.user_id]
            jobs.popleft()
            newest += 1
            if jobs:
                jobs[0] = replace(jobs[0], served_seq=newest)
            else:
                del per_user[chosen.user_id]
        return entries

    # -- results ------------------------------------------------------------------------------

    async def mark_done(
        self,
        job_id: int,
        outputs: Sequence[OutputData],
        engine_seconds: float,
        warnings: Iterable[str] = (),
        *,
        ext: str = "png",
        tries: int | None = None,
        structure: bytes | None = None,
        suggestions: Sequence[str] = (),
    ) -> JobRow[P] | None:
        """Store the outputs (and the structure map, a PNG) and mark the job done — only if
        it is still running; otherwise (cancelled meanwhile) nothing changes, the new files are removed and
        None is returned."""
        ext = normalize_ext(ext)
        written: list[PutResult] = []
        described: set[MediaKey] | None = None
        try:
            extra = [(structure, "png")] if structure is not None else []
            await self._files.write([(o.data, ext) for o in outputs] + extra, written)
            structure_sha = written[-1].sha256 if structure is not None else None
            now = self._clock()
            async with self._db.transaction():
                row = await self._db.fetchone(
                    "UPDATE jobs SET status = 'done', finished_at = ?, engine_seconds = ?, warnings = ?, "
                    "error = NULL, tries = ?, suggestions = ? "
                    f"WHERE id = ? AND status = 'running' {self._returning}",
                    (
                        now,
                        engine_seconds,
                        json.dumps(list(warnings)),
                        tries,
                        _json_or_null(suggestions),
                        job_id,
                    ),
                )
                if row is None:
                    log.info("job %d is no longer running; its results are discarded", job_id)
                    return None
                stored = await self._files.insert(written, now)
                if structure_sha is not None:  # once its media row exists
                    row = await self._db.fetchone(
                        f"UPDATE jobs SET structure_media = ? WHERE id = ? {self._returning}",
                        (structure_sha, job_id),
                    )
                images = written[: len(outputs)]
                if images:
                    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(images))
                    await self._db.fetchall(
                        _INSERT_OUTPUTS.format(values=values),
                        [
                            v
                            for idx, (put, out) in enumerate(zip(images, outputs, strict=True))
                            for v in (
                                job_id,
                                idx,
                                put.sha256,
                                out.seed,
                                out.width,
                                out.height,
                                out.identity,
                                out.nsfw,
                            )
                        ],
                    )
            described = stored
            return self._row(row)
        finally:
            await self._files.settle(written, described)

    async def mark_failed(self, job_id: int, error: str, code: str = "error") -> JobRow[P] | None:
        """queued/running → failed, with the message and its kind (``code``); None when the job
        is missing or already finished."""
        return await self._finish(job_id, JobStatus.FAILED, error, code)

    async def mark_cancelled(self, job_id: int) -> JobRow[P] | None:
        """For the worker after it interrupted a job (queued jobs are accepted too). Its inputs
        go at once (see ``_drop_inputs``)."""
        async with self._db.locked():
            async with self._db.transaction():
                hit = await self._db.execute(
                    "UPDATE jobs SET status = 'cancelled', error = NULL, finished_at = ? "
                    "WHERE id = ? AND status IN ('queued', 'running')",
                    (self._clock(), job_id),
                )
                if not hit.rowcount:  # finished meanwhile
                    return None
                removed = await self._drop_inputs([job_id])
                row = await self._db.fetchone(f"{self._select} WHERE id = ?", (job_id,))
            await self._files.remove_files(removed)
        assert row is not None
        return self._row(row)

    async def _drop_inputs(self, ids: Sequence[int]) -> list[MediaKey]:
        """Inside a transaction, for jobs just cancelled: cut their input and mask references and
        delete the media rows nothing else uses (nobody will read them again, and they count against
        the owner's quota). Returns those for ``remove_files`` after the commit."""
        if not ids:
            return []
        ids_json = json.dumps(list(ids))
        rows = await self._db.fetchall(
            "SELECT input_media, mask_media FROM jobs WHERE id IN (SELECT value FROM json_each(?))",
            (ids_json,),
        )
        await self._db.execute(
            "UPDATE jobs SET input_media = NULL, mask_media = NULL "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (ids_json,),
        )
        return await self._files.delete_unreferenced(sha for r in rows for sha in r if sha is not None)

    def _row(self, row: Any) -> JobRow[P]:
        return JobRow.from_row(row, self._params)

    async def _finish(
        self, job_id: int, status: JobStatus, error: str | None, code: str | None = None
    ) -> JobRow[P] | None:
        row = await self._db.fetchone(
            "UPDATE jobs SET status = ?, error = ?, error_code = ?, finished_at = ? "
            f"WHERE id = ? AND status IN ('queued', 'running') {self._returning}",
            (status.value, error, code, self._clock(), job_id),
        )
        return None if row is None else self._row(row)

    async def cancel(self, job_id: int, user_id: int) -> CancelResult[P]:
        """Owner-only. A queued job is cancelled at once, and its input and mask files go with it
        (unless another row uses them: nothing will ever read them, and they count against the
        user's quota); a running one is flagged (``cancel_requested_at``) and returned still
        'running' for the worker to interrupt (``mark_cancelled`` then drops its inputs)."""
        now = self._clock()
        removed: list[MediaKey] = []
        async with self._db.locked():
            async with self._db.transaction():
                current = await self._db.fetchone("SELECT user_id, status FROM jobs WHERE id = ?", (job_id,))
                if current is None:
                    return CancelResult(CancelOutcome.NOT_FOUND, None)
                if current["user_id"] != user_id:
                    return CancelResult(CancelOutcome.NOT_OWNER, None)
                status = JobStatus(current["status"])
                if status is JobStatus.QUEUED:
                    removed = await self._drop_inputs([job_id])
                    row = await self._db.fetchone(
                        "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ? "
                        + self._returning,
                        (now, job_id),
                    )
                    outcome = CancelOutcome.CANCELLED_QUEUED
                elif status is JobStatus.RUNNING:
                    row = await self._db.fetchone(
                        "UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, ?) WHERE id = ? "
                        + self._returning,
                        (now, job_id),
                    )
                    outcome = CancelOutcome.CANCEL_RUNNING
                else:
                    row = await self._db.fetchone(f"{self._select} WHERE id = ?", (job_id,))
                    outcome = CancelOutcome.ALREADY_FINISHED
            await self._files.remove_files(removed)
        assert row is not None
        return CancelResult(outcome, self._row(row))

    async def recover_after_restart(self) -> tuple[list[int], list[int]]:
        """Jobs left 'running' by a crash: requeued while they have been claimed fewer than
        ``max_attempts`` times (and picked next again: their user counts as not served), else
        failed. Returns (requeued, failed).
        A job whose owner had asked to cancel it is cancelled instead (and logged), its inputs
        dropped as ``mark_cancelled`` does."""
        now = self._clock()
        async with self._db.locked():
            async with self._db.transaction():
                cancelled = await self._db.fetchall(
                    "UPDATE jobs SET status = 'cancelled', finished_at = ? "
                    "WHERE status = 'running' AND cancel_requested_at IS NOT NULL RETURNING id",
                    (now,),
                )
                removed = await self._drop_inputs([r[0] for r in cancelled])
                requeued = await self._db.fetchall(
                    "UPDATE jobs SET status = 'queued', started_at = NULL "
                    "WHERE status = 'running' AND attempts < ? RETURNING id, user_id",
                    (self._max_attempts,),
                )
                # The crash cost these users their turn: forget that they were served, so their job
                # is picked first again instead of going to the back of the round.
                await self._db.execute(
                    "DELETE FROM user_last_served WHERE user_id IN (SELECT value FROM json_each(?))",
                    (json.dumps(sorted({r[1] for r in requeued})),),
                )
                failed = await self._db.fetchall(
                    "UPDATE jobs SET status = 'failed', error = ?, error_code = 'interrupted', "
                    "finished_at = ? WHERE status = 'running' RETURNING id",
                    (RESTARTED_TWICE, now),
                )
            await self._files.remove_files(removed)
        result = sorted(r[0] for r in requeued), sorted(r[0] for r in failed)
        if cancelled or requeued or failed:
            log.warning(
                "after restart: requeued %s, failed %s, cancelled %s",
                result[0],
                result[1],
                sorted(r[0] for r in cancelled),
            )
        return result

    # -- reading ------------------------------------------------------------------------------

    async def get(self, job_id: int) -> JobRow[P] | None:
        row = await self._db.fetchone(f"{self._select} WHERE id = ?", (job_id,))
        return None if row is None else self._row(row)

    async def outputs(self, job_id: int) -> list[OutputRow]:
        rows = await self._db.fetchall(
            "SELECT o.job_id, o.idx, o.media, m.ext, o.seed, o.width, o.height, o.identity, o.nsfw "
            "FROM job_outputs AS o JOIN media AS m ON m.sha256 = o.media WHERE o.job_id = ? ORDER BY o.idx",
            (job_id,),
        )
        return [OutputRow(*r) for r in rows]

    async def user_jobs(
        self,
        user_id: int,
        statuses: Iterable[JobStatus | str] | None = None,
        *,
        limit: int | None = None,
        before: int | None = None,
    ) -> list[JobRow[P]]:
        """A user's jobs, newest first; ``statuses=None`` means all; ``before``: only older job ids."""
        wanted = None if statuses is None else json.dumps([JobStatus(s).value for s in statuses])
        rows = await self._db.fetchall(
            f"{self._select} WHERE user_id = ? AND (? IS NULL OR status IN (SELECT value FROM json_each(?))) "
            "AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
            (user_id, wanted, wanted, before, before, -1 if limit is None else limit),
        )
        return [self._row(r) for r in rows]

    async def undelivered(self, limit: int = 100) -> list[JobRow[P]]:
        """Finished (done/failed) Discord jobs whose result was never posted, newest first — for redelivery
        (at start-up and periodically): a recent result matters most, and a job whose delivery keeps
        failing sinks below the newer ones instead of blocking them."""
        rows = await self._db.fetchall(
            f"{self._select} WHERE delivered_at IS NULL AND status IN ('done', 'failed') "
            "AND api_key_id IS NULL ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [self._row(r) for r in rows]

    async def recent_durations(self, limit: int = 20) -> list[float]:
        """engine_seconds of the most recently finished done jobs (for wait estimates)."""
        rows = await self._db.fetchall(
            "SELECT engine_seconds FROM jobs WHERE status = 'done' AND engine_seconds IS NOT NULL "
            "ORDER BY finished_at DESC LIMIT ?",
            (limit,),
        )
        return [float(r[0]) for r in rows]

    async def media_path(self, sha: str) -> Path | None:
        """Where a stored media file lives (its extension comes from the media row)."""
        ext = await self._db.fetchval("SELECT ext FROM media WHERE sha256 = ?", (sha,))
        return None if ext is None else self._media.path(sha, ext)

    # -- delivery bookkeeping -----------------------------------------------------------------

    async def set_message(self, job_id: int, message_id: int) -> bool:
        """Remember the status message that shows this job's progress."""
        result = await self._db.execute("UPDATE jobs SET message_id = ? WHERE id = ?", (message_id, job_id))
        return result.rowcount == 1

    async def set_delivery(self, job_id: int, result_message_id: int, result_channel_id: int) -> bool:
        """Record where the result was posted; sets ``delivered_at`` and forgets the interaction
        token (a credential: it is not kept once nothing needs it)."""
        result = await self._db.execute(
            "UPDATE jobs SET result_message_id = ?, result_channel_id = ?, delivered_at = ?, "
            "interaction_token = NULL WHERE id = ?",
            (result_message_id, result_channel_id, self._clock(), job_id),
        )
        return result.rowcount == 1

    async def forget_token(self, job_id: int) -> bool:
        """Drop the interaction token of a job whose message needs no more edits (cancelled)."""
        result = await self._db.execute("UPDATE jobs SET interaction_token = NULL WHERE id = ?", (job_id,))
        return result.rowcount == 1

    async def requeue_running(self, job_id: int, error: str) -> JobRow[P] | None:
        """Give back a running job whose outcome could not be stored: queued again (its owner keeps
        their turn) while it has been claimed fewer than ``max_attempts`` times, else failed with
        ``error``; cancelled instead when its owner asked. None when the job is not running."""
        async with self._db.transaction():
            row = await self._db.fetchone(
                "UPDATE jobs SET "
                "status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled' "
                "WHEN attempts < :max THEN 'queued' ELSE 'failed' END, "
                "error = CASE WHEN cancel_requested_at IS NULL AND attempts >= :max THEN :error END, "
                "error_code = CASE WHEN cancel_requested_at IS NULL AND attempts >= :max "
                "THEN 'interrupted' END, "
                "started_at = CASE WHEN cancel_requested_at IS NULL AND attempts < :max "
                "THEN NULL ELSE started_at END, "
                "finished_at = CASE WHEN cancel_requested_at IS NULL AND attempts < :max "
                f"THEN NULL ELSE :now END WHERE id = :id AND status = 'running' {self._returning}",
                {"max": self._max_attempts, "error": error, "now": self._clock(), "id": job_id},
            )
            if row is not None and row["status"] == JobStatus.QUEUED.value:
                await self._db.execute("DELETE FROM user_last_served WHERE user_id = ?", (row["user_id"],))
        if row is None:
            return None
        job = self._row(row)
        log.warning("job %d was running and is now %s (attempt %d)", job_id, job.status.value, job.attempts)
        return job

    # -- deleting -----------------------------------------------------------------------------

    async def delete_job(self, job_id: int, user_id: int) -> bool:
        """Owner-only: the job, its outputs, and media no other row uses (rows and files).
        A running job is not deleted (False): cancel it first."""
        async with self._db.locked():
            async with self._db.transaction():
                row = await self._db.fetchone("SELECT user_id, status FROM jobs WHERE id = ?", (job_id,))
                if row is None or row["user_id"] != user_id or row["status"] == JobStatus.RUNNING:
                    return False
                removed = await self._delete_jobs([job_id])
            await self._files.remove_files(removed)
        return True

    async def sweep(self, older_than_seconds: float) -> int:
        """Delete finished jobs older than the history window, with their now-unused media.
        Returns the number of jobs deleted."""
        cutoff = self._clock() - older_than_seconds
        async with self._db.locked():
            async with self._db.transaction():
                rows = await self._db.fetchall(
                    "SELECT id FROM jobs WHERE finished_at < ? AND status IN (?, ?, ?)",
                    (cutoff, *_FINISHED),
                )
                ids = [r[0] for r in rows]
                removed = await self._delete_jobs(ids) if ids else []
                # Counts of days before yesterday count against nothing any more.
                await self._db.execute(
                    "DELETE FROM daily_charges WHERE day < ?", (daily.utc_day(self._clock() - 86400)[0],)
                )
            await self._files.remove_files(removed)
        if ids:
            log.info("swept %d finished job(s) and %d media file(s)", len(ids), len(removed))
        return len(ids)

    async def gc_media(self) -> list[str]:
        """Delete media rows nothing references, then (after commit) their files; returns shas."""
        async with self._db.locked():
            async with self._db.transaction():
                removed = await self._files.delete_all_unreferenced()
            await self._files.remove_files(removed)
        if removed:
            log.info("collected %d unreferenced media row(s)", len(removed))
        return [sha for sha, _ in removed]

    async def sweep_orphan_files(self, older_than: float = 600) -> list[Path]:
        """Remove files with no media row (left by a crash between file and row); for start-up."""
        return await self._files.sweep_orphans(older_than)

    async def _delete_jobs(self, ids: list[int]) -> list[MediaKey]:
        """Inside a transaction: delete jobs (outputs cascade) and the media rows only they used."""
        ids_json = json.dumps(ids)
        candidates = [r[0] for r in await self._db.fetchall(_JOBS_MEDIA, {"ids": ids_json})]
        await self._db.execute("DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))", (ids_json,))
        return await self._files.delete_unreferenced(candidates)


def _json_or_null(items: Sequence[str]) -> str | None:
    return json.dumps(list(items)) if items else None
