"""Restarts: queued and running jobs survive them, an interrupted job runs again once, results
that were never posted are posted by the next start."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.tiny import TinyBundle
from storage import JobStatus
from storage.jobs import RESTARTED_TWICE
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    generate,
    image_of,
    jobs,
    result_message,
    running_bot,
    wait_delivered,
    wait_job_message,
    wait_status,
)
from tests.fakediscord import FakeDiscord


async def test_queued_and_running_jobs_run_after_a_restart(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    settings = bot_settings(tiny_bundle, data_dir)
    engine_control.hold()
    async with running_bot(fake, settings) as bot:
        calls = [await generate(fake, alice, "interrupted")]
        await wait_job_message(calls[0])
        await engine_control.wait_held()
        calls += [await generate(fake, bob, "waiting bob"), await generate(fake, alice, "waiting alice")]
        for inter in calls[1:]:
            await inter.wait_final(lambda m: "position" in m.content)
        before = {j.params.prompt: j.status for j in await jobs(bot)}
    assert before == {
        "interrupted": JobStatus.RUNNING,
        "waiting bob": JobStatus.QUEUED,
        "waiting alice": JobStatus.QUEUED,
    }
    engine_control.release()  # the old worker thread sees its cancel flag at the next step and ends

    async with running_bot(fake, settings) as bot:
        results = [await result_message(inter) for inter in calls]
        rows = {j.params.prompt: j for j in await jobs(bot)}

    # The interrupted job keeps its turn: it runs first, once more.
    assert engine_control.runs == ["interrupted", "interrupted", "waiting bob", "waiting alice"]
    assert rows["interrupted"].attempts == 2 and rows["waiting bob"].attempts == 1
    assert all(j.status is JobStatus.DONE and j.delivered_at is not None for j in rows.values())
    for inter, message in zip(calls, results, strict=True):
        assert message is inter.original  # the original replies were edited, tokens still valid
        assert image_of(message.files[0].data).format == "PNG"


async def test_a_job_interrupted_twice_fails_with_a_message(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    settings = bot_settings(tiny_bundle, data_dir)
    inter = None
    for _ in range(2):
        engine_control.hold()
        async with running_bot(fake, settings):
            if inter is None:
                inter = await generate(fake, None, "unlucky")
            await engine_control.wait_held()
        engine_control.release()
    assert inter is not None

    async with running_bot(fake, settings) as bot:
        failed = await inter.wait_final(lambda m: "failed" in m.content)
        [job] = await jobs(bot)
        await wait_delivered(bot, job.id)
    assert failed.content == f"<@{fake.user.id}> job {job.id} failed: {RESTARTED_TWICE}"
    assert engine_control.runs == ["unlucky", "unlucky"]
    assert job.status is JobStatus.FAILED and job.attempts == 2


async def test_a_result_never_posted_is_posted_after_a_restart(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = fake_discord
    settings = bot_settings(tiny_bundle, data_dir)
    async with running_bot(fake, settings) as bot:
        # The bot stops right after the job is stored as done, before it posts the result.
        async def lost(job: object) -> None:
            return None

        monkeypatch.setattr(bot.get_cog("Delivery"), "deliver", lost)
        inter = await generate(fake, None, "finished offline")
        job_id = await wait_job_message(inter)
        job = await wait_status(bot, job_id, JobStatus.DONE)
    assert job.delivered_at is None
    assert inter.original is not None and not inter.original.files

    async with running_bot(fake, settings) as bot:
        message = await result_message(inter)
        delivered = await wait_delivered(bot, job_id)
        # A stale row (listed for redelivery, delivered meanwhile) is not posted a second time.
        edits, count = message.edit_count, len(fake.messages)
        await bot.get_cog("Delivery").deliver(job)  # type: ignore[union-attr]
        assert (message.edit_count, len(fake.messages)) == (edits, count)
    assert message.content.startswith(f"<@{fake.user.id}> job {job_id} is done")
    assert delivered.result_message_id == message.id


async def test_a_result_after_a_restart_keeps_its_interactions_upload_limit(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    """The limit is stored with the job: after a restart the result still fits where it was asked for."""
    fake = fake_discord
    settings = bot_settings(tiny_bundle, data_dir)
    default_limit = fake.limits.attachment_size_limit
    fake.limits.attachment_size_limit = 4000  # smaller than the PNG: a JPEG must be sent
    engine_control.hold()
    async with running_bot(fake, settings) as bot:
        call = await generate(fake, None, "small server")
        job_id = await wait_job_message(call)
        await engine_control.wait_held()
        [row] = await jobs(bot)
        assert row.upload_limit == 4000
    engine_control.release()
    fake.limits.attachment_size_limit = default_limit

    async with running_bot(fake, settings) as bot:
        message = await result_message(call)
        await wait_delivered(bot, job_id)
    assert image_of(message.files[0].data).format == "JPEG" and message.files[0].size <= 4000
