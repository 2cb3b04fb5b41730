"""/generate with a character: face lock through the real bot, the fake Discord and the tiny bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.engine.metadata import read_parameters
from bot.params import FaceLock
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import box_mask, png_bytes
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    image_of,
    jobs,
    media_bytes,
    private_error,
    result_message,
    running_bot,
    wait_delivered,
    wait_job_message,
)
from tests.cogs.test_characters import attach, character, face_photo
from tests.fakediscord import FakeDiscord


async def test_generate_with_a_character(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, tmp_path / "data", queue_per_user=10)) as bot:
        created = await character(
            fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))}
        )
        assert "Created **Mara**" in created.content
        choices = await fake.autocomplete(None, "generate", {"prompt": "x", "character": "ma"}, "character")
        assert [c["value"] for c in choices] == ["Mara"]

        call = await generate(fake, None, "Mara on a beach", character="Mara", seed=5, candidates=2)
        job_id = await wait_job_message(call)
        message = await result_message(call)
        await wait_delivered(bot, job_id)
        assert len(message.files) == 2
        for file in message.files:
            fields = read_parameters(file.data)
            assert fields["Face lock"] == "FaceID" and "Identity" in fields
        [embed] = message.embeds
        seeds = next(f["value"] for f in embed["fields"] if f["name"].startswith("Seed"))
        assert "no face" in seeds or "identity" in seeds
        [job] = await jobs(bot)
        assert (
            job.character_id is not None
            and job.params.face is not None
            and job.params.face.weight == 0.8
            and job.tries == 1
        )
        outputs = await bot.services.jobs.outputs(job_id)
        assert len(outputs) == 2

        # min_identity: the tiny model draws no faces, so every try fails; the tries stay bounded
        strict = await generate(fake, None, "Mara again", character="Mara", min_identity=0.9, seed=7)
        strict_id = await wait_job_message(strict)
        strict_message = await result_message(strict)
        done = await wait_delivered(bot, strict_id)
        assert done.params.face is not None and done.tries == done.params.face.max_tries == 3
        [embed] = strict_message.embeds
        lock = next(f["value"] for f in embed["fields"] if f["name"] == "Face lock")
        assert lock == "weight 0.8 · min 0.9 · tries 3 of 3"  # no character name: it is private
        mean = await generate(
            fake,
            None,
            "Mara, mean",
            character="Mara",
            min_identity=0.9,
            max_tries=2,
            identity_mode="mean",
            seed=9,
        )
        mean_id = await wait_job_message(mean)
        mean_message = await result_message(mean)
        assert (await wait_delivered(bot, mean_id)).tries == 2
        assert read_parameters(mean_message.files[0].data)["Identity mode"] == "mean"
        # the owner's reroll keeps min_identity (validated against the character, read when it runs)
        redo = await fake.click(None, strict_message, f"lk:reroll:{strict_id}")
        redone = await result_message(redo)
        assert read_parameters(redone.files[0].data)["Face lock"] == "FaceID"
        assert max(j.id for j in await jobs(bot)) > strict_id

        # another user: no autocomplete, and the command is refused with nothing queued
        bob = fake.add_user("bob")
        assert await fake.autocomplete(bob, "generate", {"prompt": "x", "character": "ma"}, "character") == []
        refused = await fake.slash(bob, "generate", {"prompt": "steal", "character": "Mara"})
        assert "no character called" in await private_error(fake, refused)
        assert len(await jobs(bot)) == 4

        # Info: the owner sees the character's name and every score; anyone else only the settings
        mine = await ephemeral_reply(await fake.click(None, strict_message, f"lk:info:{strict_id}"))
        assert "Face lock: Mara · weight 0.8 · min 0.9 · tries 3 of 3" in mine.content
        assert "(no face)" in mine.content
        theirs = await ephemeral_reply(await fake.click(bob, strict_message, f"lk:info:{strict_id}"))
        assert "Face lock: weight 0.8 · min 0.9 · tries 3 of 3" in theirs.content  # without the name

        # someone else's reroll of a face-locked job is refused; the owner's keeps the character
        other = await ephemeral_reply(await fake.click(bob, message, f"lk:reroll:{job_id}"))
        assert "someone else's character" in other.content
        assert len(await jobs(bot)) == 4
        again = await fake.click(None, message, f"lk:reroll:{job_id}")
        rerolled = await result_message(again)
        assert read_parameters(rerolled.files[0].data)["Face lock"] == "FaceID"


async def test_character_deleted_while_its_job_waits(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, tmp_path / "data")) as bot:
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        engine_control.hold()
        busy = await generate(fake, None, "keeps the worker busy")
        await engine_control.wait_held()
        waiting = await generate(fake, None, "Mara in the snow", character="Mara")
        job_id = await wait_job_message(waiting)
        repo = bot.services.characters.repo
        await repo.delete(fake.user.id, (await repo.resolve(fake.user.id, "Mara")).id)
        engine_control.release()
        await result_message(busy)
        failed = await wait_delivered(bot, job_id)
        assert failed.error is not None and "character for this job was deleted" in failed.error


async def test_add_to_character_button(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    """Owner only, after a confirmation, through the same upload checks (a faceless output is refused)."""
    fake = fake_discord
    bob = fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, tmp_path / "data")) as bot:
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        call = await generate(fake, None, "Mara in a library", character="Mara")
        job_id = await wait_job_message(call)
        message = await result_message(call)
        assert f"lk:addref:{job_id}:0" in message.custom_ids

        refused = await ephemeral_reply(await fake.click(bob, message, f"lk:addref:{job_id}:0"))
        assert "only the owner of this character" in refused.content

        ask = await fake.click(None, message, f"lk:addref:{job_id}:0")
        prompt = await ask.wait_final(lambda m: bool(m.custom_ids))
        assert "Add output 1" in prompt.content
        await fake.click(None, prompt, prompt.custom_ids[0])
        done = await ask.wait_final(lambda m: m.content.startswith("Output 1 → Mara"))
        assert "refused: no face found" in done.content  # the random tiny model draws no face
        repo = bot.services.characters.repo
        refs = await repo.references(fake.user.id, (await repo.resolve(fake.user.id, "Mara")).id)
        assert len(refs) == 1


async def test_fix_face_without_a_face_queues_nothing(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    """An output without a face says so and queues nothing (the positive path, with a real face in the
    output, is ``test_a_kept_face_is_scored_added_and_fixed``)."""
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, tmp_path / "data")) as bot:
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        call = await generate(fake, None, "Mara at a desk", character="Mara", seed=3)
        job_id = await wait_job_message(call)
        message = await result_message(call)
        assert f"lk:fixface:{job_id}:0" in message.custom_ids

        none = await fake.click(None, message, f"lk:fixface:{job_id}:0")
        assert "no face found in this output to fix" in await private_error(fake, none)
        assert len(await jobs(bot)) == 1
        assert bot.services.queue.in_flight.analyses(fake.user.id) == 0  # the slot was given back


async def test_a_kept_face_is_scored_added_and_fixed(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    """The positive path with the real (tiny) analyzer: inpainting a corner keeps the face bit-for-bit at
    the photo's own resolution, so the output scores as the character, joins its set through the button,
    and Fix face finds it."""
    fake = fake_discord
    photo = face_photo(1)
    corner = fake.add_attachment(png_bytes(box_mask(256, 256, (224, 224, 256, 256))), "mask.png", "image/png")
    async with running_bot(fake, bot_settings(tiny_bundle, tmp_path / "data")) as bot:
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, photo)})
        call = await generate(
            fake,
            None,
            "Mara, new background",
            mode="inpaint",
            image=attach(fake, photo),
            mask=corner,
            character="Mara",
            strength=1.0,
        )
        job_id = await wait_job_message(call)
        message = await result_message(call)
        [embed] = message.embeds
        seeds = next(f["value"] for f in embed["fields"] if f["name"].startswith("Seed"))
        assert "identity 1.00" in seeds
        [output] = await bot.services.jobs.outputs(job_id)
        assert output.identity == pytest.approx(1.0, abs=1e-3) and (output.width, output.height) == (256, 256)

        ask = await fake.click(None, message, f"lk:addref:{job_id}:0")
        prompt = await ask.wait_final(lambda m: bool(m.custom_ids))
        await fake.click(None, prompt, prompt.custom_ids[0])
        done = await ask.wait_final(lambda m: m.content.startswith("Output 1 → Mara"))
        assert "added as #2" in done.content
        repo = bot.services.characters.repo
        mara = await repo.resolve(fake.user.id, "Mara")
        refs = await repo.references(fake.user.id, mara.id)
        assert [r.number for r in refs] == [1, 2] and all(r.embedding is not None for r in refs)

        fixed = await result_message(await fake.click(None, message, f"lk:fixface:{job_id}:0"))
        fields = read_parameters(fixed.files[0].data)
        assert (fields["Mode"], fields["Face lock"], fields["Denoising strength"]) == (
            "inpaint",
            "FaceID",
            "0.6",
        )
        new = max(await jobs(bot), key=lambda j: j.id)
        assert new.origin.value == "fix_face" and new.parent_job_id == job_id and new.mask_media is not None
        # The mask covers the face the analyzer found in the output (grown by a quarter), nothing else.
        [face] = bot.services.worker.face_analyzer.analyze(image_of(await media_bytes(bot, new.input_media)))
        mask = np.asarray(image_of(await media_bytes(bot, new.mask_media)))
        x0, y0, x1, y1 = face.box
        dx, dy = (x1 - x0) / 4, (y1 - y0) / 4
        expected = np.zeros_like(mask)
        expected[max(0, round(y0 - dy)) : round(y1 + dy), max(0, round(x0 - dx)) : round(x1 + dx)] = 255
        assert mask.shape == (256, 256) and np.array_equal(mask, expected)


async def test_a_character_without_references_is_refused(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path, engine_control: EngineControl
) -> None:
    """No reference means no face to lock onto: refused before queueing (a new job and a Reroll alike),
    and a job queued before its character was emptied fails clearly when it runs."""
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, tmp_path / "data")) as bot:
        await character(fake, None, "create", {"name": "Empty"})
        refused = await fake.slash(None, "generate", {"prompt": "x", "character": "Empty"})
        assert "the character has no reference images yet" in await private_error(fake, refused)
        assert await jobs(bot) == []

        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        call = await generate(fake, None, "Mara", character="Mara")
        job_id = await wait_job_message(call)
        message = await result_message(call)
        engine_control.hold()
        busy = await generate(fake, None, "keeps the worker busy")
        await engine_control.wait_held()
        queued = await generate(fake, None, "Mara later", character="Mara")
        queued_id = await wait_job_message(queued)
        repo = bot.services.characters.repo
        mara = await repo.resolve(fake.user.id, "Mara")
        [ref] = await repo.references(fake.user.id, mara.id)
        await bot.services.characters.prune(fake.user.id, "Mara", ref.number)
        engine_control.release()
        await result_message(busy)
        failed = await wait_delivered(bot, queued_id)
        assert failed.error is not None and "the character has no reference images yet" in failed.error
        assert "Mara" not in failed.error  # the failure line is public; the name is private

        redo = await fake.click(None, message, f"lk:reroll:{job_id}")
        assert "the character has no reference images yet" in await private_error(fake, redo)
        assert len(await jobs(bot)) == 3


async def test_server_min_identity_and_retry_budget(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    """LIKENESS_MIN_IDENTITY fills in for a face-locked job that gives none; LIKENESS_MAX_TRIES is the
    default and the ceiling of max_tries."""
    fake = fake_discord
    settings = bot_settings(tiny_bundle, tmp_path / "data", min_identity=0.9, max_tries=2, queue_per_user=10)
    async with running_bot(fake, settings) as bot:
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        over = await fake.slash(None, "generate", {"prompt": "x", "character": "Mara", "max_tries": 5})
        assert "max_tries 5 is over this bot's retry budget of 2" in await private_error(fake, over)
        assert await jobs(bot) == []

        call = await generate(fake, None, "Mara at dawn", character="Mara")
        done = await wait_delivered(bot, await wait_job_message(call))
        assert done.params.face == FaceLock(0.8, "all", 0.9, 2) and done.tries == 2  # no face: every try

        own = await generate(fake, None, "Mara at dusk", character="Mara", min_identity=0.2, max_tries=1)
        mine = await wait_delivered(bot, await wait_job_message(own))
        assert mine.params.face == FaceLock(0.8, "all", 0.2, 1) and mine.tries == 1

        plain = await generate(fake, None, "no character")
        unlocked = await wait_delivered(bot, await wait_job_message(plain))
        assert unlocked.params.face is None and unlocked.character_id is None


async def test_image_prompt_with_a_character_needs_faceid(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    """Without FaceID, face lock takes the image-prompt slot: refused at once, with nothing queued."""
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, tmp_path / "data", faceid_adapter="none")) as bot:
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        options = {"prompt": "x", "mode": "image_prompt", "character": "Mara"}
        refused = await fake.slash(None, "generate", {**options, "image": attach(fake, face_photo(2))})
        assert "face lock cannot be combined with image_prompt" in await private_error(fake, refused)
        assert await jobs(bot) == []
        fallback = await generate(fake, None, "Mara in a garden", character="Mara")
        message = await result_message(fallback)
        assert read_parameters(message.files[0].data)["Face lock"] == "image prompt"
        notes = next(f["value"] for f in message.embeds[0]["fields"] if f["name"] == "Notes")
        assert "face lock fell back to the image prompt on the primary image" in notes  # said in the result
