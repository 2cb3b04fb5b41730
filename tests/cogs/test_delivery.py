"""Delivery of job messages: throttled progress edits, token expiry, the upload limit, failing jobs."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
import torch

from bot.tiny import TinyBundle
from cogs.delivery import PROGRESS_INTERVAL
from cogs.utils import interactions
from storage import JobStatus
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
)
from tests.fakediscord import FakeDiscord, FakeMessage, rules


def versions(message: FakeMessage) -> list[tuple[float, str]]:
    """(time of the edit that produced it, content) for every version after the first."""
    contents = [v.content for v in message.history[1:]] + [message.content]
    return [(v.at, content) for v, content in zip(message.history, contents, strict=True)]


async def test_progress_edits_are_throttled(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)):
        ahead = await generate(fake, fake.add_user("first"), "ahead in the queue")
        await engine_control.wait_held()
        inter = await generate(fake, None, "a slow sunset", steps=40, seed=3)
        await inter.wait_final(lambda m: "queued, position 1 of 2" in m.content)
        engine_control.step_delay = 0.08  # at least 3.2 s of denoising, however fast the CPU
        engine_control.release()
        await result_message(ahead)
        message = await result_message(inter)

    edits = versions(message)
    texts = [text for _, text in edits]
    assert texts[0].startswith("Job 2: queued, position 1 of 2") and texts[1] == "Job 2: starting…"
    progress = [(at, text) for at, text in edits if " of 40 (about " in text]
    assert len(progress) >= 2, texts
    assert all("generating `" in text for _, text in progress)
    steps = [int(text.split("step ")[1].split(" of")[0]) for _, text in progress]
    assert steps == sorted(steps)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(progress)]
    assert min(gaps) >= PROGRESS_INTERVAL - 0.05, gaps
    # Discord allows 5 edits of a message per 5 s; progress leaves room for the result in any window.
    times = [at for at, _ in edits]
    assert max(sum(1 for t in times if start <= t < start + 5.0) for start in times) <= 4
    assert message.files and texts[-1].endswith("is done: 1 image")


async def test_expired_token_falls_back_to_a_channel_message(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    """Discord rejects the token (401) although the bot thought it still valid: post to the channel."""
    fake = fake_discord
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        inter = await generate(fake, None, "a late delivery", seed=21)
        job_id = await wait_job_message(inter)
        await engine_control.wait_held()
        fake.expire_tokens()  # as if the 15 minutes had passed
        await asyncio.sleep(PROGRESS_INTERVAL)  # so the next step tries a progress edit
        engine_control.release()
        posted = await fake.wait_for_message(lambda m: m.kind == "channel" and bool(m.files), timeout=30)
        job = await wait_delivered(bot, job_id)

    # One refused edit (a progress edit), then the bot stops using that token.
    [rejected] = fake.take_violations(rules.RULE_TOKEN_EXPIRED)
    assert rejected.status == 401
    assert [r.method for r in fake.requests if r.status == 401] == ["PATCH"]
    assert posted.content.startswith(f"<@{fake.user.id}> job {job_id} is done")
    assert image_of(posted.files[0].data).format == "PNG"
    assert f"lk:reroll:{job_id}" in posted.custom_ids and posted.embeds
    assert (job.result_message_id, job.result_channel_id) == (posted.id, fake.channel_id)
    assert inter.original is not None and not inter.original.files  # the old reply could not be edited


async def test_token_known_to_be_expired_goes_straight_to_the_channel(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    engine_control: EngineControl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bot's own clock says the token has expired: no doomed edit, the result goes to the channel."""
    fake = fake_discord
    fake.token_lifetime = 1.0
    monkeypatch.setattr(interactions, "TOKEN_LIFETIME", interactions.TOKEN_MARGIN + 0.5)
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        inter = await generate(fake, None, "a slow delivery", seed=22)
        job_id = await wait_job_message(inter)
        await engine_control.wait_held()
        await asyncio.sleep(1.1)  # let both lifetimes pass while the job runs
        engine_control.release()
        posted = await fake.wait_for_message(lambda m: m.kind == "channel" and bool(m.files), timeout=30)
        await wait_delivered(bot, job_id)
    assert posted.content.startswith(f"<@{fake.user.id}> job {job_id} is done")
    assert fake.violations == []  # nothing was sent with the dead token


async def test_result_over_the_upload_limit_is_reencoded_as_jpeg(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    """The bot sizes uploads by the interaction's ``attachment_size_limit``, not a fixed 10 MiB."""
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        inter = await generate(fake, None, "a big picture", candidates=2, seed=30)
        job_id = await wait_job_message(inter)
        await wait_delivered(bot, job_id)
        outputs = await bot.services.jobs.outputs(job_id)
        pngs = [bot.services.media.read(o.media, o.ext) for o in outputs]
        # A server whose limit is below the two PNGs (the interaction carries attachment_size_limit).
        fake.limits.attachment_size_limit = sum(len(p) for p in pngs) * 3 // 4
        inter = await generate(fake, None, "a big picture", candidates=2, seed=30)
        message = await result_message(inter)

    assert [f.filename for f in message.files] == [
        f"likeness-{job_id + 1}-1-30.jpg",
        f"likeness-{job_id + 1}-2-31.jpg",
    ]
    assert all(image_of(f.data).format == "JPEG" for f in message.files)
    assert sum(f.size for f in message.files) <= fake.limits.attachment_size_limit
    assert "Re-encoded as JPEG" in message.content


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RuntimeError("CUDA error: an illegal memory access"), "something went wrong while generating"),
        (torch.OutOfMemoryError("CUDA out of memory"), "ran out of memory for 1 candidate(s) at 64×64"),
    ],
    ids=["runtime-error", "out-of-memory"],
)
async def test_a_failing_job_fails_alone(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    engine_control: EngineControl,
    error: BaseException,
    expected: str,
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        doomed = await generate(fake, alice, "doomed")
        doomed_id = await wait_job_message(doomed)
        await engine_control.wait_held()
        survivor = await generate(fake, bob, "survivor")
        await wait_job_message(survivor)
        engine_control.fail_with.append(error)  # raised inside the diffusers call at the next step
        engine_control.release()
        failed = await doomed.wait_final(lambda m: "failed" in m.content, timeout=30)
        message = await result_message(survivor)
        await wait_delivered(bot, doomed_id)
        rows = {j.params.prompt: j for j in await jobs(bot)}

    assert failed.content.startswith(f"<@{alice.id}> job {doomed_id} failed: ")
    assert expected in failed.content and not failed.files and failed.components == []
    assert rows["doomed"].status is JobStatus.FAILED and rows["doomed"].delivered_at is not None
    assert rows["survivor"].status is JobStatus.DONE
    assert message.content.startswith(f"<@{bob.id}> job ")
