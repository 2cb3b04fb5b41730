"""The queue as users see it: positions, /queue, fairness, /cancel and the Cancel button, limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.tiny import TinyBundle
from storage import JobStatus
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    jobs,
    media_files,
    png_attachment,
    private_error,
    result_message,
    running_bot,
    sha256,
    wait_job_message,
    wait_status,
)
from tests.fakediscord import FakeDiscord


async def test_positions_with_several_users_and_queue_command(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    alice, bob, carol = fake.user, fake.add_user("bob"), fake.add_user("carol")
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)):
        first = await generate(fake, alice, "alice one")
        running = await wait_job_message(first)
        await engine_control.wait_held()
        queued, texts = [], []
        for user, prompt in ((bob, "bob one"), (carol, "carol one"), (alice, "alice two")):
            queued.append(await generate(fake, user, prompt))
            texts.append((await queued[-1].wait_final(lambda m: "position" in m.content)).content)
        bob_job, carol_job, alice_job = [await wait_job_message(i) for i in queued]
        # Bob and Carol were never served, so they go before Alice's second job.
        assert "position 1 of 2" in texts[0]
        assert "position 2 of 3" in texts[1]
        assert "position 3 of 4" in texts[2]

        mine = await ephemeral_reply(await fake.slash(alice, "queue"))
        assert "Queue: 4 jobs" in mine.content
        assert f"job {running}: running now" in mine.content
        assert f"job {alice_job}: position 3 of 4" in mine.content
        assert f"job {bob_job}" not in mine.content and f"job {carol_job}" not in mine.content
        theirs = await ephemeral_reply(await fake.slash(bob, "queue"))
        assert f"job {bob_job}: position 1 of 4" in theirs.content and f"job {running}" not in theirs.content
        nobody = await ephemeral_reply(await fake.slash(fake.add_user("dave"), "queue"))
        assert "You have no jobs waiting." in nobody.content

        engine_control.release()
        for inter in [first, *queued]:
            await result_message(inter)


async def test_fair_order_serves_a_waiting_user_before_a_busy_one(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=5)) as bot:
        calls = [await generate(fake, alice, f"alice {n}") for n in (1, 2, 3)]
        await engine_control.wait_held()
        calls.append(await generate(fake, bob, "bob 1"))
        assert "position 1 of 4" in (await calls[-1].wait_final(lambda m: "position" in m.content)).content
        engine_control.release()
        for inter in calls:
            await result_message(inter)
        rows = await jobs(bot)

    assert engine_control.runs == ["alice 1", "bob 1", "alice 2", "alice 3"]
    by_start = sorted(rows, key=lambda j: j.started_at or 0)
    assert [j.params.prompt for j in by_start] == ["alice 1", "bob 1", "alice 2", "alice 3"]
    assert all(j.status is JobStatus.DONE for j in rows)


async def test_cancel_queued_running_and_someone_elses_job(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, default_steps=6)) as bot:
        running_call = await generate(fake, alice, "to stop while running")
        running = await wait_job_message(running_call)
        await engine_control.wait_held()
        queued_call = await generate(fake, alice, "to cancel while queued")
        queued = await wait_job_message(queued_call)
        last_call = await generate(fake, alice, "still runs")
        await wait_job_message(last_call)  # queued, not only acknowledged

        # /cancel suggests your own waiting and running jobs.
        choices = await fake.autocomplete(alice, "cancel", {"job": ""}, "job")
        assert [c["value"] for c in choices] == [queued + 1, queued, running]
        assert await fake.autocomplete(bob, "cancel", {"job": ""}, "job") == []

        # Someone else's job: refused, nothing changes.
        refused = await ephemeral_reply(await fake.slash(bob, "cancel", {"job": queued}))
        assert refused.content == f"you have no job {queued}: only a job's owner can cancel it"
        assert (await bot.services.jobs.get(queued)).status is JobStatus.QUEUED  # type: ignore[union-attr]

        # The same words for a job that does not exist; Delete refuses a job that has not finished.
        missing = await ephemeral_reply(await fake.slash(alice, "cancel", {"job": 999}))
        assert missing.content == "you have no job 999: only a job's owner can cancel it"
        shown = await running_call.wait_final(lambda m: f"lk:cancel:{running}" in m.custom_ids)
        for job_id, state in ((queued, "is still in the queue"), (running, "is running")):
            stale = with_delete_button(shown.payload(), job_id)  # as an older message might carry
            delete = await ephemeral_reply(await fake.click(alice, stale, f"lk:delete:{job_id}"))
            assert delete.content == f"job {job_id} {state}: cancel it first, then delete it"

        done = await ephemeral_reply(await fake.slash(alice, "cancel", {"job": queued}))
        assert done.content == f"job {queued} was cancelled"
        await queued_call.wait_final(lambda m: m.content == f"Job {queued} was cancelled.")

        stopping = await ephemeral_reply(await fake.slash(alice, "cancel", {"job": running}))
        assert stopping.content == f"job {running} is running: it stops at its next step"
        engine_control.release()
        await running_call.wait_final(lambda m: m.content == f"Job {running} was cancelled.")
        await result_message(last_call)
        stopped = await wait_status(bot, running, JobStatus.CANCELLED)
        skipped = await bot.services.jobs.get(queued)
        assert await bot.services.jobs.outputs(running) == []

        again = await ephemeral_reply(await fake.slash(alice, "cancel", {"job": running}))
        assert again.content == f"job {running} has already finished"

    assert engine_control.runs == ["to stop while running", "still runs"]  # the queued one never ran
    assert engine_control.last_step[0] == 1  # stopped at the step after the cancel, of 6
    assert stopped.status is JobStatus.CANCELLED and stopped.cancel_requested_at is not None
    assert skipped is not None and skipped.status is JobStatus.CANCELLED and skipped.started_at is None


async def test_cancel_button_only_for_its_owner(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        busy = await generate(fake, bob, "keeps the worker busy")
        await engine_control.wait_held()
        mine = await generate(fake, alice, "changed my mind")
        job = await wait_job_message(mine)
        message = await mine.wait_final(lambda m: f"lk:cancel:{job}" in m.custom_ids)

        other = await ephemeral_reply(await fake.click(bob, message, f"lk:cancel:{job}"))
        assert other.content == f"you have no job {job}: only a job's owner can cancel it"
        assert (await bot.services.jobs.get(job)).status is JobStatus.QUEUED  # type: ignore[union-attr]

        own = await ephemeral_reply(await fake.click(alice, message, f"lk:cancel:{job}"))
        assert own.content == f"job {job} was cancelled"
        final = await mine.wait_final(lambda m: m.content == f"Job {job} was cancelled.")
        assert final.components == [] and final.files == []

        engine_control.release()
        await result_message(busy)
    assert engine_control.runs == ["keeps the worker busy"]


async def test_per_user_limit_refuses_the_fourth_job(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        for n in range(3):
            await wait_job_message(await generate(fake, None, f"job {n}", image=png_attachment(fake, seed=n)))
        extra = png_attachment(fake, seed=99)
        refused = await generate(fake, None, "one too many", image=extra)
        text = await private_error(fake, refused)
        rows = await jobs(bot)
        engine_control.release()

    assert text.startswith("you already have 3 jobs waiting or running (the limit is 3)")
    assert [j.params.prompt for j in rows] == ["job 0", "job 1", "job 2"]
    assert sha256(fake.download(extra)) not in {p.stem for p in media_files(data_dir)}
    assert len(media_files(data_dir)) == 3


async def test_total_limit_refuses_when_the_queue_is_full(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_total=2)) as bot:
        await wait_job_message(await generate(fake, fake.add_user("a"), "running"))
        await engine_control.wait_held()
        for name in ("b", "c"):
            await wait_job_message(await generate(fake, fake.add_user(name), f"waiting {name}"))
        extra = png_attachment(fake, seed=7)
        refused = await generate(fake, fake.add_user("d"), "no room", image=extra)
        text = await private_error(fake, refused)
        rows = await jobs(bot)
        engine_control.release()

    assert text == "the queue is full (2 jobs waiting): try again in a few minutes"
    assert [j.params.prompt for j in rows] == ["running", "waiting b", "waiting c"]
    assert media_files(data_dir) == []


def with_delete_button(payload: dict[str, Any], job_id: int) -> dict[str, Any]:
    """A message the bot did not post, carrying a Delete button for ``job_id``."""
    button = {"type": 2, "style": 4, "label": "Delete", "custom_id": f"lk:delete:{job_id}"}
    return {
        **payload,
        "id": str(int(payload["id"]) + 10**9),
        "components": [{"type": 1, "components": [button]}],
    }
