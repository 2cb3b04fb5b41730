"""/describe through the fake Discord: four prompts from the tiny Florence-2 on the worker, Use N
buttons that queue jobs (after a restart too, and private where the image is), a prompt left to the
image in /generate, and describe turned off."""

from __future__ import annotations

from pathlib import Path

from bot.engine.metadata import read_parameters
from bot.params import Mode
from bot.tiny import TinyBundle
from storage import JobOrigin, JobStatus
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    ephemeral_reply,
    generate,
    jobs,
    png_attachment,
    private_error,
    result_message,
    running_bot,
    wait_delivered,
    wait_job_message,
)
from tests.fakediscord import FakeDiscord


async def test_describe_writes_four_prompts_and_the_buttons_queue_them(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    bob = fake.add_user("bob")
    settings = bot_settings(tiny_bundle, data_dir, queue_per_user=5)
    async with running_bot(fake, settings) as bot:
        call = await fake.slash(None, "describe", {"image": png_attachment(fake, 96, 64)})
        job_id = await wait_job_message(call)
        described = await wait_delivered(bot, job_id)
        message = await call.wait_final(lambda m: bool(m.embeds))
        assert described.params.describe == "standard" and len(described.suggestions) == 4
        assert message.content.endswith(f"job {job_id} is done: 4 prompts from your image")
        [embed] = message.embeds
        assert [f["value"] for f in embed["fields"]] == list(described.suggestions)
        assert embed["fields"][1]["name"] == "2 · detailed"
        ids = message.custom_ids
        assert [f"lk:use:{job_id}:{n}" for n in range(4)] == [i for i in ids if i.startswith("lk:use:")]
        assert [f"lk:usenew:{job_id}:{n}" for n in range(4)] == [i for i in ids if i.startswith("lk:usenew:")]
        refused = await fake.click(bob, message, f"lk:use:{job_id}:0")
        assert "this describes someone else's image" in (await ephemeral_reply(refused)).content
    async with running_bot(fake, settings) as bot:  # the buttons are read from the database
        used = await fake.click(None, message, f"lk:use:{job_id}:0")
        await result_message(used)
        fresh = await fake.click(bob, message, f"lk:usenew:{job_id}:2")
        await result_message(fresh)
        made = {j.id: j for j in await jobs(bot)}
        img2img = next(
            j for j in made.values() if j.params.mode is Mode.IMG2IMG and j.params.describe is None
        )
        text = next(j for j in made.values() if j.params.mode is Mode.TEXT)
        assert img2img.params.prompt == described.suggestions[0] and img2img.params.strength == 0.35
        assert img2img.input_media == described.input_media and img2img.origin is JobOrigin.SUGGESTION
        assert text.params.prompt == described.suggestions[2] and text.user_id == bob.id
        assert text.input_media is None and text.parent_job_id == job_id


async def test_generate_without_a_prompt_describes_the_image_and_says_so(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        call = await fake.slash(None, "generate", {"image": png_attachment(fake, 96, 64), "seed": 4})
        message = await result_message(call)
        [job] = await jobs(bot)
        assert job.params.prompt == "" and job.status is JobStatus.DONE
        written = read_parameters(message.files[0].data)["prompt"]
        assert written.strip()
        [embed] = message.embeds
        notes = next(f["value"] for f in embed["fields"] if f["name"] == "Notes")
        assert f"no prompt was given, so the image was described: “{written}”" in notes


async def test_with_describe_off_both_say_so_and_nothing_is_queued(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, caption_model="none")) as bot:
        refused = await fake.slash(None, "describe", {"image": png_attachment(fake)})
        said = await private_error(fake, refused)
        assert said == "describing images is off on this bot (the operator sets LIKENESS_CAPTION_MODEL)"
        no_prompt = await fake.slash(None, "generate", {"image": png_attachment(fake)})
        assert "give a prompt: it cannot be written from the image" in await private_error(fake, no_prompt)
        assert await jobs(bot) == []


async def test_a_describe_job_takes_a_queue_slot(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=2)) as bot:
        await wait_job_message(await generate(fake, None, "a held job"))
        await engine_control.wait_held()
        await wait_job_message(await fake.slash(None, "describe", {"image": png_attachment(fake)}))
        refused = await generate(fake, None, "one too many")
        text = await private_error(fake, refused)
        engine_control.release()
        assert [j.params.describe for j in await jobs(bot)] == [None, "standard"]
    assert text.startswith("you already have 2 jobs waiting or running (the limit is 2)")
