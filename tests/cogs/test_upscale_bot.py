"""Upscaling through the fake Discord: the Upscale buttons (after a restart, by another user), the
second press that offers 4×, ``/upscale`` of an upload, and refusals over the output limit that
store nothing."""

from __future__ import annotations

from pathlib import Path

from bot.engine.metadata import read_parameters
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
    private_error,
    result_message,
    running_bot,
)
from tests.fakediscord import FakeDiscord


async def test_upscale_buttons_after_a_restart(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    bob = fake.add_user("bob")
    settings = bot_settings(tiny_bundle, data_dir, queue_per_user=5)
    async with running_bot(fake, settings) as bot:
        first = await result_message(await generate(fake, None, "a castle at dusk", candidates=2, seed=5))
        [made] = await jobs(bot)
        outputs = await bot.services.jobs.outputs(made.id)
    assert [i for i in first.custom_ids if i.startswith("lk:upscale:")] == [
        f"lk:upscale:{made.id}:0",
        f"lk:upscale:{made.id}:1",
    ]

    async with running_bot(fake, settings) as bot:  # a new process: the buttons come from the database
        twice = await result_message(await fake.click(bob, first, f"lk:upscale:{made.id}:1"))
        up = next(j for j in await jobs(bot) if j.origin is JobOrigin.UPSCALE)
        assert (up.params.upscale, up.params.strength, up.params.seed) == (2.0, None, outputs[1].seed)
        assert up.input_media == outputs[1].media and up.user_id == bob.id and up.parent_job_id == made.id
        assert image_of(twice.files[0].data).size == (128, 128)
        fields = read_parameters(twice.files[0].data)
        assert fields["prompt"] == "a castle at dusk" and fields["Seed"] == str(outputs[1].seed)
        assert fields["Postprocess upscale by"] == "2" and fields["Postprocess upscaler"]
        assert f"lk:upmore:{up.id}" in twice.custom_ids and f"lk:addetail:{up.id}" in twice.custom_ids

        four = await result_message(await fake.click(bob, twice, f"lk:upmore:{up.id}"))
        more = next(j for j in await jobs(bot) if j.params.upscale == 4.0)
        assert more.input_media == up.input_media and more.status is JobStatus.DONE
        assert image_of(four.files[0].data).size == (256, 256)
        assert not any(i.startswith("lk:upmore:") for i in four.custom_ids)  # 4× is the most


async def test_upscale_of_an_upload_and_its_own_rules(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    bob = fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        call = await fake.slash(None, "upscale", {"image": png_attachment(fake, 64, 80), "factor": 1.5})
        message = await result_message(call)
        [job] = await jobs(bot)
        assert job.params.upscale == 1.5 and job.params.prompt == "" and job.origin is JobOrigin.COMMAND
        assert image_of(message.files[0].data).size == (96, 120)
        refused = await ephemeral_reply(await fake.click(bob, message, f"lk:upmore:{job.id}"))
        assert refused.content == "this upscale is of a picture its owner uploaded, so only they can redo it"


async def test_over_the_output_limit_nothing_is_queued_or_stored(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    limit = bot_settings(tiny_bundle, data_dir, max_output_mp=0.01)  # 10,000 px: 64×64 passes, 128×128 not
    async with running_bot(fake, limit) as bot:
        made = await result_message(await generate(fake, None, "a lighthouse", seed=2))
        [job] = await jobs(bot)
        assert not any(i.startswith("lk:upmore:") for i in made.custom_ids)
        stored = sorted(media_files(data_dir))
        button = await fake.click(None, made, f"lk:upscale:{job.id}:0")
        upload = await fake.slash(None, "upscale", {"image": png_attachment(fake, 64, 64, seed=3)})
        said = [await private_error(fake, button), await private_error(fake, upload)]
        assert [j.id for j in await jobs(bot)] == [job.id]
        assert sorted(media_files(data_dir)) == stored
    expected = (
        "upscale 2× would make a 128×128 px picture (0.0164 megapixels), over this bot's limit "
        "(LIKENESS_MAX_OUTPUT_MP) of 0.01 megapixels: choose a smaller factor or a smaller picture"
    )
    assert said == [expected, expected]
