"""Results whose delivery failed are posted by a later pass, without a restart; once a job's message is
final its interaction token (a credential) is no longer kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app.client import LikenessBot
from bot.tiny import TinyBundle
from cogs.utils import redelivery
from storage import JobRow, JobStatus
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    image_of,
    result_message,
    running_bot,
    wait_delivered,
    wait_job_message,
    wait_status,
)
from tests.fakediscord import FakeDiscord, rules
from tests.fakediscord.state import RequestRecord


async def token_of(bot: LikenessBot, job_id: int) -> str | None:
    return await bot.services.db.fetchval("SELECT interaction_token FROM jobs WHERE id = ?", (job_id,))


async def test_a_failed_delivery_is_posted_by_a_later_pass(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    engine_control: EngineControl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token has expired and the channel is gone (Discord hiccup): the result cannot be posted. When
    the channel is back, the periodic pass posts it, and the row forgets the token."""
    fake = fake_discord
    monkeypatch.setattr(redelivery, "REDELIVER_INTERVAL", 0.2)
    channel_posts = f"/api/v10/channels/{fake.channel_id}/messages"
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        inter = await generate(fake, None, "posted later", seed=5)
        job_id = await wait_job_message(inter)
        await engine_control.wait_held()
        fake.expire_tokens()
        channel = fake.channels.pop(fake.channel_id)
        engine_control.release()

        await wait_status(bot, job_id, JobStatus.DONE)

        def refused_twice() -> list[RequestRecord] | None:
            found = [r for r in fake.requests if r.path == channel_posts and r.status == 404]
            return found if len(found) >= 2 else None

        # The delivery when the job finished, and at least one pass after it.
        refused = await fake.wait_for(refused_twice, timeout=10)
        pending = await bot.services.jobs.get(job_id)
        fake.channels[fake.channel_id] = channel

        posted = await fake.wait_for_message(lambda m: m.kind == "channel" and bool(m.files), timeout=10)
        job = await wait_delivered(bot, job_id)
        token = await token_of(bot, job_id)

    fake.take_violations(rules.RULE_TOKEN_EXPIRED)
    assert len(fake.take_violations(rules.RULE_UNKNOWN_CHANNEL)) >= len(refused) >= 2
    assert pending is not None and pending.delivered_at is None
    assert posted.content.startswith(f"<@{fake.user.id}> job {job_id} is done")
    assert image_of(posted.files[0].data).format == "PNG"
    assert (job.result_message_id, job.result_channel_id) == (posted.id, fake.channel_id)
    assert token is None
    assert len([m for m in fake.messages if m.kind == "channel" and m.files]) == 1  # posted once


async def test_the_token_is_forgotten_once_the_message_is_final(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    """A delivered result (the reply edited with the token) and a cancelled job both drop the token;
    a job still waiting keeps it (its message is still edited)."""
    fake = fake_discord
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        delivered_call = await generate(fake, None, "delivered")
        delivered_id = await wait_job_message(delivered_call)
        await engine_control.wait_held()
        cancelled_call = await generate(fake, None, "cancelled")
        cancelled_id = await wait_job_message(cancelled_call)
        waiting = await token_of(bot, cancelled_id)

        reply = await ephemeral_reply(await fake.slash(None, "cancel", {"job": cancelled_id}))
        await cancelled_call.wait_final(lambda m: m.content == f"Job {cancelled_id} was cancelled.")
        cancelled = await wait_token_gone(bot, cancelled_id)
        engine_control.release()
        message = await result_message(delivered_call)
        delivered = await wait_delivered(bot, delivered_id)
        delivered_token = await token_of(bot, delivered_id)

    assert waiting == cancelled_call.token
    assert reply.content == f"job {cancelled_id} was cancelled"
    assert cancelled.status is JobStatus.CANCELLED
    assert message is delivered_call.original and delivered.result_message_id == message.id
    assert delivered_token is None


async def wait_token_gone(bot: LikenessBot, job_id: int, timeout: float = 10.0) -> JobRow:
    """The final edit of a cancelled job happens in the background: poll until the token is gone."""
    async with asyncio.timeout(timeout):
        while True:
            job = await bot.services.jobs.get(job_id)
            if job is not None and job.interaction_token is None:
                return job
            await asyncio.sleep(0.02)
