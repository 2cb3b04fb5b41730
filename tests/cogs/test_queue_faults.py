"""The dispatcher survives storage faults: a database locked by another program while a job finishes,
a full disk while its images are written, a crash of the dispatcher task itself. Each time the job
ends cleanly (stored, or failed with a message), the next job is posted and nothing is half-written."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from bot.app.client import LikenessBot
from bot.tiny import TinyBundle
from storage import JobStatus
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    result_message,
    running_bot,
    wait_delivered,
    wait_job_message,
)
from tests.fakediscord import FakeDiscord

BUSY_TIMEOUT_MS = 200  # the bot waits this long for another program's lock before a write fails


async def wait_down(bot: LikenessBot, timeout: float = 10.0) -> str:
    """Until the queue reports the worker down; its reason."""
    async with asyncio.timeout(timeout):
        while bot.services.queue.health is None:
            await asyncio.sleep(0.02)
    return bot.services.queue.health.reason


async def storage_is_consistent(bot: LikenessBot, data_dir: Path) -> None:
    """Every media row has its file, every file its row, and no temp file is left behind."""
    rows = await bot.services.db.fetchall("SELECT sha256, ext FROM media")
    described = {f"{r[0]}.{r[1]}" for r in rows}
    on_disk = [p for p in (data_dir / "media").rglob("*") if p.is_file()]
    assert [p for p in on_disk if p.name.startswith(".") or p.name.endswith(".tmp")] == []
    assert {p.name for p in on_disk} == described
    dangling = await bot.services.db.fetchval(
        "SELECT COUNT(*) FROM job_outputs WHERE media NOT IN (SELECT sha256 FROM media)"
    )
    assert dangling == 0


async def test_a_database_locked_while_a_job_finishes(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    """Another connection holds ``BEGIN EXCLUSIVE`` past the busy timeout as the result is stored:
    the result is kept, /queue says the worker is down and why, and once the lock goes the held
    job is posted and the next one runs."""
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    settings = bot_settings(tiny_bundle, data_dir)
    engine_control.hold()
    async with running_bot(fake, settings) as bot:
        await bot.services.db.fetchall(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        held = await generate(fake, alice, "finishes while locked")
        held_id = await wait_job_message(held)
        await engine_control.wait_held()
        following = await generate(fake, bob, "runs after the lock")
        following_id = await wait_job_message(following)

        other = sqlite3.connect(settings.database_path, isolation_level=None, timeout=0)
        try:
            other.execute("BEGIN EXCLUSIVE")
            engine_control.release()
            reason = await wait_down(bot)
            await asyncio.sleep(3 * BUSY_TIMEOUT_MS / 1000)  # several failed tries under the lock
            shown = await ephemeral_reply(await fake.slash(bob, "queue"))
            stuck = await bot.services.jobs.get(held_id)
            other.execute("COMMIT")
        finally:
            other.close()

        posted = await result_message(held)
        await result_message(following)
        done = await wait_delivered(bot, held_id)
        after = await bot.services.jobs.get(following_id)
        outputs = await bot.services.jobs.outputs(held_id)
        healthy = bot.services.queue.health
        back = await ephemeral_reply(await fake.slash(bob, "queue"))
        await storage_is_consistent(bot, data_dir)

    assert reason == "the database is locked by another program"
    assert shown.content.startswith("The GPU worker is down since ")
    assert " UTC (the database is locked by another program); your jobs stay queued" in shown.content
    assert f"job {following_id}: position 1 of 2" in shown.content
    assert stuck is not None and stuck.status is JobStatus.RUNNING  # nothing half-stored meanwhile
    assert done.status is JobStatus.DONE and len(outputs) == 1 and posted.files
    assert after is not None and after.status is JobStatus.DONE and after.delivered_at is not None
    assert engine_control.runs == ["finishes while locked", "runs after the lock"]  # ran once each
    assert healthy is None and "down" not in back.content


async def test_a_full_disk_while_the_images_are_written(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    engine_control: EngineControl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The second image of a job hits ENOSPC: that job fails with a message saying so, the first image
    is removed again, and the next job is posted."""
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    real_fsync = os.fsync
    armed = {"files": 0, "fired": 0}

    def fsync(fd: int) -> None:
        if armed["files"] and stat.S_ISREG(os.fstat(fd).st_mode):
            armed["files"] -= 1
            if not armed["files"]:
                armed["fired"] += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        doomed = await generate(fake, alice, "two images, no room", candidates=2)
        doomed_id = await wait_job_message(doomed)
        await engine_control.wait_held()
        following = await generate(fake, bob, "after the disk was freed")
        following_id = await wait_job_message(following)
        before = {p.name for p in (data_dir / "media").rglob("*") if p.is_file()}
        armed["files"] = 2  # the first image is written, the second one's fsync fails
        engine_control.release()

        failed = await doomed.wait_final(lambda m: "failed" in m.content, timeout=15)
        message = await result_message(following, timeout=15)
        failed_row = await wait_delivered(bot, doomed_id)
        await wait_delivered(bot, following_id)
        doomed_outputs = await bot.services.db.fetchval(
            "SELECT COUNT(*) FROM job_outputs WHERE job_id = ?", (doomed_id,)
        )
        following_outputs = await bot.services.jobs.outputs(following_id)
        await storage_is_consistent(bot, data_dir)
        after = {p.name for p in (data_dir / "media").rglob("*") if p.is_file()}

    assert armed["fired"] == 1
    assert failed.content == (
        f"<@{alice.id}> job {doomed_id} failed: the bot could not save the results: its disk is full. "
        "The log tells the operator; try again later"
    )
    assert not failed.files and failed.components == []
    assert failed_row.status is JobStatus.FAILED and doomed_outputs == 0
    assert message.files and len(following_outputs) == 1
    assert after - before == {f"{following_outputs[0].media}.png"}  # nothing of the doomed job is left


class Crash(BaseException):
    """Not an ``Exception``: gets past any ``except Exception`` and ends the task it is raised in."""


async def test_the_dispatcher_survives_a_failing_claim_and_is_restarted_after_a_crash(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Claiming fails once with an I/O error (the step is retried after a backoff), then the task itself
    dies (its done-callback restarts it): the job still runs, and shutting down raises nothing."""
    fake = fake_discord
    caplog.set_level(logging.WARNING, logger="bot.running.queue")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        repo = bot.services.jobs
        real_claim = repo.claim_next
        faults: list[BaseException] = [sqlite3.OperationalError("disk I/O error"), Crash("boom")]
        downs: list[str] = []

        async def claim_next(*args: object) -> object:
            if faults:
                raise faults.pop(0)
            if bot.services.queue.health is not None:
                downs.append(bot.services.queue.health.reason)
            return await real_claim(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(repo, "claim_next", claim_next)
        inter = await generate(fake, None, "survives two faults")
        job_id = await wait_job_message(inter)
        message = await result_message(inter, timeout=15)
        job = await wait_delivered(bot, job_id)
        health = bot.services.queue.health

    assert faults == [] and message.files and job.status is JobStatus.DONE
    assert downs == ["the dispatcher crashed and is restarting"]
    assert health is None
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("dispatcher: storage is failing; trying again in 0.5 s") for m in logged)
    assert any(m.startswith("the dispatcher crashed; restarting it in 1.0 s") for m in logged)


async def test_a_job_that_cannot_even_be_failed_runs_again(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    engine_control: EngineControl,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database refuses every write (read-only, as after a remount) as a job finishes: neither its
    results nor its failure can be stored, so the job is given back to the queue once writes work
    again, runs a second time and is posted; the job behind it waited and is posted too."""
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    caplog.set_level(logging.WARNING, logger="bot.running.queue")
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        held = await generate(fake, alice, "finishes on a read-only database")
        held_id = await wait_job_message(held)
        await engine_control.wait_held()
        following = await generate(fake, bob, "waits its turn")
        following_id = await wait_job_message(following)

        await bot.services.db.fetchall("PRAGMA query_only = 1")
        engine_control.release()
        reason = await wait_down(bot)
        stuck = await bot.services.jobs.get(held_id)
        waiting = await bot.services.jobs.get(following_id)
        await bot.services.db.fetchall("PRAGMA query_only = 0")

        posted = await result_message(held, timeout=15)
        await result_message(following, timeout=15)
        job = await wait_delivered(bot, held_id)
        await wait_delivered(bot, following_id)
        await storage_is_consistent(bot, data_dir)

    assert reason == "storage is failing"
    assert stuck is not None and stuck.status is JobStatus.RUNNING
    assert waiting is not None and waiting.status is JobStatus.QUEUED  # nothing else starts meanwhile
    assert engine_control.runs == [
        "finishes on a read-only database",
        "finishes on a read-only database",
        "waits its turn",
    ]
    assert job.status is JobStatus.DONE and job.attempts == 2 and posted.files
    logged = [r.getMessage() for r in caplog.records]
    assert f"could not store job {held_id} as done; storing it as failed instead" in logged
    assert f"could not store job {held_id} as failed; storing it as queued again instead" in logged
    assert f"job {held_id} was running and is now queued (attempt 1)" in logged
