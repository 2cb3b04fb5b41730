"""Result buttons work after a restart: Reroll, Vary, Info, Delete (state comes from the database)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.actions.submissions import Submissions
from bot.tiny import TinyBundle
from storage import JobOrigin, JobStatus
from tests.cogs.harness import (
    bot_settings,
    ephemeral_reply,
    generate,
    image_of,
    jobs,
    media_files,
    png_attachment,
    result_message,
    running_bot,
    sha256,
)
from tests.fakediscord import FakeDiscord


async def test_buttons_after_a_restart(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    settings = bot_settings(tiny_bundle, data_dir)
    source = png_attachment(fake, 96, 64)
    async with running_bot(fake, settings) as bot:
        first = await generate(fake, alice, "a castle at dusk", image=source, candidates=2, seed=5)
        result = await result_message(first)
        [original] = await jobs(bot)
        outputs = await bot.services.jobs.outputs(original.id)
    job = original.id
    assert len(outputs) == 2

    async with running_bot(fake, settings) as bot:  # a new process: nothing in memory about job 1
        info = await ephemeral_reply(await fake.click(bob, result, f"lk:info:{job}"))
        assert info.content.startswith(f"**Job {job}** (done, img2img)")
        assert "Prompt: a castle at dusk" in info.content
        assert "steps 4, cfg 7, seed 5, candidates 2, strength 0.35" in info.content
        assert "Seeds: #1 5, #2 6" in info.content

        reroll = await fake.click(alice, result, f"lk:reroll:{job}")
        assert (await reroll.wait_response()).type == 5  # a new public "thinking…" message
        rerolled = await result_message(reroll)
        vary = await fake.click(alice, result, f"lk:vary:{job}:1")
        varied = await result_message(vary)
        rows = {j.id: j for j in await jobs(bot)}
        again = next(j for j in rows.values() if j.origin is JobOrigin.REROLL)
        varied_job = next(j for j in rows.values() if j.origin is JobOrigin.VARY)

        refused = await ephemeral_reply(await fake.click(bob, result, f"lk:delete:{job}"))
        assert refused.content == f"you have no job {job}: only a job's owner can delete it"
        assert len(result.files) == 2 and await bot.services.jobs.get(job) is not None

        files_before = {p.stem for p in media_files(data_dir)}
        deleted = await fake.click(alice, result, f"lk:delete:{job}")
        assert (await deleted.wait_response()).type == 7  # the result message itself is edited
        remaining = {j.id for j in await jobs(bot)}
        gone = await bot.services.jobs.outputs(job)
    files_after = {p.stem for p in media_files(data_dir)}

    # Reroll: same parameters and source, a new seed, a new job.
    assert (again.params.prompt, again.params.mode, again.params.candidates, again.parent_job_id) == (
        original.params.prompt,
        "img2img",
        2,
        job,
    )
    assert again.input_media == original.input_media and again.params.seed != original.params.seed
    assert again.status is JobStatus.DONE and len(rerolled.files) == 2
    # Vary: img2img from the chosen output at low strength.
    assert (
        varied_job.params.mode == "img2img"
        and varied_job.params.strength == 0.3
        and varied_job.params.candidates == 1
    )
    assert varied_job.input_media == outputs[1].media and varied_job.parent_job_id == job
    assert image_of(varied.files[0].data).size == (outputs[1].width, outputs[1].height)
    # Delete: the message loses images and buttons; the row and the files only it used are gone.
    assert result.content == f"Job {job} was deleted by its owner."
    assert result.files == [] and result.components == [] and result.embeds == []
    assert job not in remaining and remaining == {again.id, varied_job.id} and gone == []
    assert outputs[0].media in files_before and outputs[0].media not in files_after
    # Still used by the reroll (the source) and by the variation (its input): kept.
    assert original.input_media in files_after and outputs[1].media in files_after
    assert sha256(fake.download(source)) == original.input_media


async def test_a_bug_behind_a_button_or_command_gets_a_reference_not_silence(
    fake_discord: FakeDiscord,
    tiny_bundle: TinyBundle,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected error answers privately with a reference the log has, instead of Discord's
    "This interaction failed"; expected ones and unknown jobs answer in the bot's own words."""
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        result = await result_message(await generate(fake, None, "a castle", seed=5))
        [job] = await jobs(bot)

        async def broken(self: Submissions, *args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug in reroll")

        monkeypatch.setattr(Submissions, "reroll", broken)
        monkeypatch.setattr(Submissions, "check", broken)
        with caplog.at_level(logging.ERROR):
            click = await fake.click(None, result, f"lk:reroll:{job.id}")
            answer = await ephemeral_reply(click)
            command = await generate(fake, None, "another castle")
            said = await ephemeral_reply(command)
        assert (
            answer.content == f"something went wrong on our side (reference {click.id}); it has been logged"
        )
        assert (
            said.content == f"something went wrong on our side (reference {command.id}); it has been logged"
        )
        logged = [r for r in caplog.records if r.exc_info and "a bug in reroll" in str(r.exc_info[1])]
        assert [r.getMessage() for r in logged] == [
            f"button reroll of job {job.id} failed (interaction {click.id})",
            f"command generate failed (interaction {command.id})",
        ]

        assert await bot.services.jobs.delete_job(job.id, fake.user.id)  # a button on a job since deleted
        stale = await ephemeral_reply(await fake.click(None, result, f"lk:info:{job.id}"))
        assert stale.content == f"job {job.id} no longer exists (deleted or past the history window)"
