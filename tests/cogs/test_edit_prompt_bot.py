"""Edit prompt (issue 23, item 5): a form with the prompt, the negative and the seed filled in; its
submission queues the same job with the new text, after a restart too; Reroll's ownership rule."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.tiny import TinyBundle
from storage import JobOrigin, JobStatus
from tests.cogs.harness import (
    bot_settings,
    ephemeral_reply,
    generate,
    jobs,
    png_attachment,
    private_error,
    result_message,
    running_bot,
)
from tests.cogs.test_button_owners import snapshot
from tests.fakediscord import FakeDiscord


def form_values(modal: dict[str, Any]) -> dict[str, str]:
    """What the form shows: each text input's pre-filled value, by custom id."""
    return {c["component"]["custom_id"]: c["component"].get("value", "") for c in modal["components"]}


async def test_the_edited_job_is_the_same_job_with_new_text_also_after_a_restart(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    alice = fake.user
    settings = bot_settings(tiny_bundle, data_dir, queue_per_user=10)
    source = png_attachment(fake, 96, 64)
    async with running_bot(fake, settings) as bot:
        first = await generate(
            fake, alice, "a castle at dusk", image=source, negative="fog", seed=5, cfg=6.5, candidates=2
        )
        result = await result_message(first)
        [original] = await jobs(bot)
        opened = await fake.click(alice, result, f"lk:edit:{original.id}")
        assert (await opened.wait_response()).type == 9  # the form, as the first answer
        modal = opened.callback.data if opened.callback else {}
        assert modal["custom_id"] == f"lk:editform:{original.id}"
        assert form_values(modal) == {"prompt": "a castle at dusk", "negative": "fog", "seed": "5"}
        assert bot._connection._view_store._modals == {}  # nothing kept in memory for it

    async with running_bot(fake, settings) as bot:  # a new process: the form still works
        submitted = await fake.submit_modal(alice, opened, {"prompt": "a castle at dawn"})
        assert (await submitted.wait_response()).type == 5  # a new public "thinking…" message
        edited_message = await result_message(submitted)
        again = await fake.click(alice, result, f"lk:edit:{original.id}")
        await again.wait_response()
        cleared = await fake.submit_modal(alice, again, {"negative": "", "seed": ""})
        await result_message(cleared)
        edited, new_seed = (j for j in await jobs(bot) if j.origin is JobOrigin.EDIT)

    assert len(edited_message.files) == 2 and edited.status is JobStatus.DONE
    assert (edited.parent_job_id, edited.user_id, edited.input_media) == (
        original.id,
        alice.id,
        original.input_media,
    )
    assert (edited.params.prompt, edited.params.negative, edited.params.seed) == (
        "a castle at dawn",
        "fog",
        5,
    )
    assert edited.params == replace(original.params, prompt="a castle at dawn")  # every other option
    assert (new_seed.params.prompt, new_seed.params.negative) == ("a castle at dusk", "")
    assert new_seed.params.seed != 5 and new_seed.input_media == original.input_media


async def test_another_user_cannot_edit_a_private_job_but_may_edit_a_prompt_only_one(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=10)) as bot:
        private = await result_message(
            await generate(fake, alice, "a fox", image=png_attachment(fake, 64, 64))
        )
        public = await result_message(await generate(fake, alice, "a heron", seed=9))
        private_job, public_job = await jobs(bot)
        before = await snapshot(bot, data_dir)

        click = await fake.click(bob, private, f"lk:edit:{private_job.id}")
        assert (await click.wait_response()).type == 4  # refused before any form opens
        assert (await ephemeral_reply(click)).content.startswith(
            "this job used someone else's image, so only they can edit it"
        )
        # Alice's own form, submitted by Bob (ids can be made): refused the same way.
        opened = await fake.click(alice, private, f"lk:edit:{private_job.id}")
        await opened.wait_response()
        forged = await fake.submit_modal(bob, opened, {"prompt": "a wolf"})
        assert (await private_error(fake, forged)).startswith("this job used someone else's image")
        bad_seed = await fake.submit_modal(alice, opened, {"seed": "five"})
        assert (await private_error(fake, bad_seed)).startswith("the seed “five” is not a whole number")
        assert await snapshot(bot, data_dir) == before  # nothing queued or stored

        theirs = await fake.click(bob, public, f"lk:edit:{public_job.id}")
        await theirs.wait_response()
        await result_message(await fake.submit_modal(bob, theirs, {"prompt": "a heron at night"}))
        bobs = [j for j in await jobs(bot) if j.user_id == bob.id]
    assert [(j.origin, j.params.prompt, j.params.seed) for j in bobs] == [
        (JobOrigin.EDIT, "a heron at night", 9)
    ]
