"""Zoom out and pan under a result (issue 23, item 4): each an outpaint of the output, at the output's
own resolution with its pixels where they belong, face lock kept for its owner, refused over the
output limit before anything is stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.tiny import TinyBundle
from storage import JobOrigin, JobStatus
from tests.cogs.harness import (
    bot_settings,
    ephemeral_reply,
    generate,
    image_of,
    jobs,
    media_bytes,
    png_attachment,
    private_error,
    result_message,
    running_bot,
)
from tests.cogs.test_button_owners import snapshot
from tests.cogs.test_characters import attach, character, face_photo
from tests.fakediscord import FakeDiscord

CHARACTER = "Quillane"
REFRAMES = ("zoomout", "zoomfar", "panleft", "panright", "panup", "pandown")


def seam_free(source: np.ndarray, result: np.ndarray, left: int, top: int, margin: int) -> bool:
    """The source's pixels, exactly, inside the result at (left, top), ``margin`` px in from each side
    the picture grew on (a side it did not grow on has no seam)."""
    h, w = source.shape[:2]
    grew = (left > 0, top > 0, left + w < result.shape[1], top + h < result.shape[0])
    x0, y0 = margin if grew[0] else 0, margin if grew[1] else 0
    x1, y1 = w - (margin if grew[2] else 0), h - (margin if grew[3] else 0)
    return bool((result[top + y0 : top + y1, left + x0 : left + x1] == source[y0:y1, x0:x1]).all())


async def test_zoom_and_pan_give_the_right_canvas_with_the_output_inside(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=10)) as bot:
        first = await generate(fake, alice, "a harbour at noon", seed=3)
        result = await result_message(first)
        [job] = await jobs(bot)
        [output] = await bot.services.jobs.outputs(job.id)
        source = np.asarray(image_of(await media_bytes(bot, output.media)).convert("RGB"))

        panel = await ephemeral_reply(await fake.click(alice, result, f"lk:reframe:{job.id}:0"))
        # The zooms and pans, then Upscale 1 (always offered here: see cogs/utils/upscale_buttons.py).
        zooms_and_pans = [f"lk:{action}:{job.id}:0" for action in REFRAMES]
        assert panel.custom_ids == [*zooms_and_pans, f"lk:upscale:{job.id}:0"]
        made = {}
        for action, user in (("zoomfar", alice), ("zoomout", alice), ("panleft", bob), ("pandown", bob)):
            click = await fake.click(user, panel, f"lk:{action}:{job.id}:0")
            assert (await click.wait_response()).type == 5  # public, like Vary
            message = await result_message(click)
            made[action] = image_of(message.files[0].data)
        rows = [j for j in await jobs(bot) if j.id != job.id]

    w, h = output.width, output.height
    expected = {  # (result size, where the output sits)
        "zoomfar": ((2 * w, 2 * h), (w // 2, h // 2)),
        "zoomout": ((w * 3 // 2, h * 3 // 2), (w // 4, h // 4)),
        "panleft": ((w + w // 2, h), (w // 2, 0)),
        "pandown": ((w, h + h // 2), (0, 0)),
    }
    for action, (size, (left, top)) in expected.items():
        image = made[action]
        assert image.size == size, action
        # Feather of the small canvas (at least 4 px), scaled up with it: well inside 16 px here.
        assert seam_free(source, np.asarray(image.convert("RGB")), left, top, margin=16), action
    expands = {"zoom2", "zoom1.5", "left", "down"}
    assert {r.params.expand for r in rows} == expands
    for row in rows:
        assert (row.origin, row.parent_job_id, row.params.mode) == (JobOrigin.REFRAME, job.id, "outpaint")
        assert row.input_media == output.media and row.status is JobStatus.DONE
        assert row.params.prompt == job.params.prompt and row.params.strength == 0.95
        assert row.params.candidates == 1 and row.params.steps == job.params.steps


async def test_a_face_locked_zoom_stays_locked_for_its_owner_alone(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=10)) as bot:
        await character(fake, alice, "create", {"name": CHARACTER, "image": attach(fake, face_photo(1))})
        first = await generate(fake, alice, "a portrait on a bridge", character=CHARACTER)
        result = await result_message(first)
        [job] = await jobs(bot)
        for user in (alice, bob):
            panel = await ephemeral_reply(await fake.click(user, result, f"lk:reframe:{job.id}:0"))
            await result_message(await fake.click(user, panel, f"lk:zoomout:{job.id}:0"))
        alices, bobs = (j for j in await jobs(bot) if j.origin is JobOrigin.REFRAME)
    assert job.params.face is not None and job.character_id is not None
    assert (alices.user_id, alices.character_id) == (alice.id, job.character_id)
    assert alices.params.face == job.params.face  # the same lock: weight, mode, scoring
    assert (bobs.user_id, bobs.character_id, bobs.params.face) == (bob.id, None, None)


async def test_a_zoom_over_the_output_limit_is_refused_with_nothing_stored(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    """64 px outputs and a 0.01 megapixel limit: a 2× zoom (128×128, 0.016 MP) is refused naming the
    limit, a pan (96×64) is not; /generate's outpaint of an upload is checked the same way."""
    fake = fake_discord
    settings = bot_settings(tiny_bundle, data_dir, max_output_mp=0.01, queue_per_user=10)
    async with running_bot(fake, settings) as bot:
        result = await result_message(await generate(fake, None, "a harbour at noon"))
        [job] = await jobs(bot)
        before = await snapshot(bot, data_dir)
        panel = await ephemeral_reply(await fake.click(None, result, f"lk:reframe:{job.id}:0"))
        click = await fake.click(None, panel, f"lk:zoomfar:{job.id}:0")
        assert (await click.wait_response()).type == 4  # refused at once, before any deferral
        refusal = (await ephemeral_reply(click)).content
        assert refusal.startswith("zoom out 2× would make a 128×128 px picture")
        assert "over this bot's limit (LIKENESS_MAX_OUTPUT_MP) of 0.01 megapixels" in refusal
        options = {"image": png_attachment(fake, 64, 64), "mode": "outpaint", "aspect": "zoom2"}
        upload = await fake.slash(None, "generate", {"prompt": "wider", **options})
        assert (await private_error(fake, upload)).startswith("zoom out 2× would make a 128×128 px picture")
        assert await snapshot(bot, data_dir) == before  # no job, no file
        panned = await result_message(await fake.click(None, panel, f"lk:panright:{job.id}:0"))
        assert image_of(panned.files[0].data).size == (96, 64)


async def test_the_zoom_buttons_work_after_a_restart(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    settings = bot_settings(tiny_bundle, data_dir)
    async with running_bot(fake, settings) as bot:
        result = await result_message(await generate(fake, None, "a harbour at noon"))
        [job] = await jobs(bot)
        panel = await ephemeral_reply(await fake.click(None, result, f"lk:reframe:{job.id}:0"))
    async with running_bot(fake, settings) as bot:  # a new process: the panel opened before still works
        zoomed = await result_message(await fake.click(None, panel, f"lk:panup:{job.id}:0"))
        again = await ephemeral_reply(await fake.click(None, result, f"lk:reframe:{job.id}:0"))
        [_, row] = await jobs(bot)
    assert image_of(zoomed.files[0].data).size == (64, 96) and row.params.expand == "up"
    assert again.custom_ids == panel.custom_ids
