"""A user's private inputs stay theirs: another user's Reroll is refused, Vary uses only the posted output,
and /forget-me also removes the messages the bot posted for the user's jobs."""

from __future__ import annotations

from pathlib import Path

from bot.engine.metadata import read_parameters
from bot.tiny import TinyBundle
from storage import JobOrigin
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    jobs,
    media_files,
    png_attachment,
    result_message,
    running_bot,
    sha256,
    wait_delivered,
    wait_job_message,
)
from tests.cogs.test_characters import attach, character, face_photo
from tests.fakediscord import FakeDiscord, rules


async def test_only_the_owner_rerolls_a_job_made_from_private_inputs(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    source = png_attachment(fake, 64, 64)
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=10)) as bot:
        await character(fake, alice, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        edited = await generate(fake, alice, "a castle", image=source, seed=5)
        edited_id = await wait_job_message(edited)
        edited_result = await result_message(edited)
        locked = await generate(
            fake, alice, "Mara on a bridge", character="Mara", min_identity=0.3, max_tries=1, seed=6
        )
        locked_id = await wait_job_message(locked)
        locked_result = await result_message(locked)
        text = await generate(fake, alice, "a meadow", seed=7)
        text_id = await wait_job_message(text)
        text_result = await result_message(text)
        before = len(await jobs(bot))

        image_click = await fake.click(bob, edited_result, f"lk:reroll:{edited_id}")
        face_click = await fake.click(bob, locked_result, f"lk:reroll:{locked_id}")
        # A private answer at once (type 4), not a public "thinking…" deferral (type 5) for a new job.
        assert [(await c.wait_response()).type for c in (image_click, face_click)] == [4, 4]
        image_refusal, face_refusal = [await ephemeral_reply(c) for c in (image_click, face_click)]
        assert len(await jobs(bot)) == before  # nothing queued

        rerolled = await result_message(await fake.click(bob, text_result, f"lk:reroll:{text_id}"))
        varied_face = await result_message(await fake.click(bob, locked_result, f"lk:vary:{locked_id}:0"))
        varied_image = await result_message(await fake.click(bob, edited_result, f"lk:vary:{edited_id}:0"))
        rows = {j.id: j for j in await jobs(bot)}
        [edited_output] = await bot.services.jobs.outputs(edited_id)
        [locked_output] = await bot.services.jobs.outputs(locked_id)

        # The owner deletes the job: the uploaded source goes with it (nobody else's job holds it).
        await (await fake.click(alice, edited_result, f"lk:delete:{edited_id}")).wait_response()
        stored = {p.stem for p in media_files(data_dir)}

    assert image_refusal.content == (
        "this job used someone else's image, so only they can reroll it: "
        "use Vary on one of its outputs instead"
    )
    assert face_refusal.content.startswith("this job used someone else's character, so only they can reroll")
    bobs = {j.parent_job_id: j for j in rows.values() if j.user_id == bob.id}
    # A job made from the prompt alone: anyone may reroll it.
    assert bobs[text_id].origin is JobOrigin.REROLL and rerolled.files
    # Vary of a face-locked job: from the posted output, without the owner's character or its settings.
    from_face = bobs[locked_id]
    assert from_face.origin is JobOrigin.VARY and from_face.input_media == locked_output.media
    assert (from_face.character_id, from_face.params.face) == (None, None)
    assert "Face lock" not in read_parameters(varied_face.files[0].data)
    # Vary of an edited upload: from the posted output, never the owner's source image.
    from_image = bobs[edited_id]
    assert from_image.input_media == edited_output.media != rows[edited_id].input_media
    assert varied_image.files
    assert sha256(fake.download(source)) == rows[edited_id].input_media not in stored


async def test_forget_me_removes_the_posted_messages(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=10)) as bot:
        first = await result_message(await generate(fake, alice, "a meadow"))
        second = await result_message(await generate(fake, alice, "a forest"))
        theirs = await result_message(await generate(fake, bob, "bob's harbour"))
        # A result posted to the channel after the token expired.
        engine_control.hold()
        busy = await generate(fake, bob, "keeps the worker busy")
        await engine_control.wait_held()
        late = await generate(fake, alice, "a late delivery")
        late_id = await wait_job_message(late)
        late.expire()
        engine_control.release()
        await result_message(busy)
        await wait_delivered(bot, late_id)
        posted = await fake.wait_for_message(lambda m: m.kind == "channel" and bool(m.files))

        # Discord refuses to delete one of them (say a moderator locked the channel since).
        refused = fake.fail_requests(
            "DELETE",
            rf"/channels/\d+/messages/{second.id}$",
            status=403,
            code=50013,
            message="Missing Permissions",
        )
        ask = await fake.slash(alice, "forget-me", {})
        confirm = await ask.wait_final(lambda m: bool(m.custom_ids))
        await fake.click(alice, confirm, confirm.custom_ids[0])
        report = await ask.wait_final(lambda m: m.content.startswith("Deleted "), timeout=30)

    fake.take_violations(rules.RULE_TOKEN_EXPIRED)  # the late job's dead token, refused once
    assert "3 job(s)" in report.content
    assert "and removed 3 posted message(s)." in report.content
    assert "1 message(s) could not be removed" in report.content
    # The replies (result, or "queued" when the result went to the channel) and the channel post.
    assert late.original is not None and late.original.deleted
    assert first.deleted and posted.deleted and len(refused.hits) == 1 and not second.deleted
    assert busy.original is not None and not busy.original.deleted and not theirs.deleted  # bob's stay
