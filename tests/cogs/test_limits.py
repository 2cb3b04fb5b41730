"""Limits through the real bot and the fake Discord: room is checked before downloads and face analyses,
face analyses count as work in flight, characters per user, the storage quota and the disk floor."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bot.app.client import LikenessBot
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import png_bytes
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    generate,
    jobs,
    media_files,
    png_attachment,
    private_error,
    result_message,
    running_bot,
    wait_job_message,
)
from tests.cogs.test_characters import attach, character, face_photo
from tests.fakediscord import FakeDiscord


def noisy_face(person: int, *, seed: int = 0) -> bytes:
    """A 512 px face picture whose background is random noise, so even the re-encoded PNG the bot
    stores is about 0.6 MB (uploads are stored without metadata, so padding would not count)."""
    image = Image.open(io.BytesIO(face_photo(person, size=512, face=256, seed=seed))).convert("RGB")
    noise = np.random.default_rng(seed).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    background = Image.fromarray(noise, "RGB")
    background.paste(image.crop((128, 128, 384, 384)), (128, 128))
    return png_bytes(background)


def noisy_png(seed: int = 0) -> bytes:
    """A 448 px noise picture: about 0.6 MB even as the clean PNG the bot stores."""
    noise = np.random.default_rng(seed).integers(0, 256, (448, 448, 3), dtype=np.uint8)
    return png_bytes(Image.fromarray(noise, "RGB"))


def cdn_gets(fake: FakeDiscord, attachment: dict[str, Any]) -> int:
    """How many times the bot fetched this attachment from the CDN."""
    return sum(1 for r in fake.requests if r.method == "GET" and f"/{attachment['id']}/" in r.path)


async def wait_analyses(bot: LikenessBot, user_id: int, count: int, timeout: float = 10.0) -> None:
    """Until ``count`` face analyses of the user wait for or run on the worker."""
    async with asyncio.timeout(timeout):
        while bot.services.queue.in_flight.analyses(user_id) != count:
            await asyncio.sleep(0.02)


async def test_generate_at_the_limit_is_refused_before_the_download(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    engine_control.hold()
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=2)) as bot:
        for n in range(2):
            await wait_job_message(await generate(fake, None, f"job {n}"))
        extra = png_attachment(fake, seed=5)
        refused = await generate(fake, None, "one too many", image=extra)
        text = await private_error(fake, refused)
        rows = await jobs(bot)
        engine_control.release()

    assert text == (
        "you already have 2 jobs waiting or running (the limit is 2): wait for one to finish or /cancel one"
    )
    assert cdn_gets(fake, extra) == 0  # neither downloaded nor decoded
    assert [j.params.prompt for j in rows] == ["job 0", "job 1"]


async def test_face_analyses_count_as_work_in_flight(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    """/character add and Fix face wait on the GPU thread outside the queue; they still take the user's
    slots, and give them back when done."""
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=3)) as bot:
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        locked = await generate(fake, None, "Mara at a desk", character="Mara", seed=3)
        locked_id = await wait_job_message(locked)
        message = await result_message(locked)

        engine_control.hold()
        await wait_job_message(await generate(fake, None, "keeps the worker busy"))
        await engine_control.wait_held()
        fix = await fake.click(None, message, f"lk:fixface:{locked_id}:0")
        await wait_analyses(bot, fake.user.id, 1)
        add = asyncio.create_task(
            character(fake, None, "add", {"name": "Mara", "image": attach(fake, face_photo(1, seed=5))})
        )
        await wait_analyses(bot, fake.user.id, 2)

        refused = await generate(fake, None, "a third piece of work", image=png_attachment(fake, seed=9))
        text = await private_error(fake, refused)
        engine_control.release()
        added = await add
        fixed = await private_error(fake, fix)
        await wait_analyses(bot, fake.user.id, 0)
        again = await wait_job_message(await generate(fake, None, "room again"))

    assert text == (
        "you already have 1 job waiting or running and 2 face analyses in progress (the limit is 3 in all): "
        "wait for one to finish or /cancel a job"
    )
    assert "added as #2" in added.content
    assert "no face found in this output to fix" in fixed  # the tiny model draws none: analysed all the same
    assert again > locked_id


async def test_fix_face_at_the_limit_is_refused_before_the_analysis(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=1)) as bot:
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        locked = await generate(fake, None, "Mara at a desk", character="Mara", seed=3)
        locked_id = await wait_job_message(locked)
        message = await result_message(locked)
        engine_control.hold()
        await wait_job_message(await generate(fake, None, "keeps the worker busy"))
        await engine_control.wait_held()

        # The worker is held: an analysis would wait behind the job, so an answer now means none was queued.
        text = await private_error(fake, await fake.click(None, message, f"lk:fixface:{locked_id}:0"))
        analyses = bot.services.queue.in_flight.analyses(fake.user.id)
        engine_control.release()

    assert text == (
        "you already have 1 job waiting or running (the limit is 1): wait for one to finish or /cancel one"
    )
    assert analyses == 0


async def test_characters_per_user_are_capped(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, max_characters=2)) as bot:
        for name in ("Mara", "Noor"):
            assert "Created" in (await character(fake, None, "create", {"name": name})).content
        refused = await character(fake, None, "create", {"name": "Ola"})
        other = await character(fake, fake.add_user("b"), "create", {"name": "Ola"})
        mine = await bot.services.characters.repo.list(fake.user.id)

    assert refused.content == "you already have 2 characters, the most allowed: delete one first"
    assert "Created **Ola**" in other.content  # the cap is per user
    assert [c.name for c in mine] == ["Mara", "Noor"]


async def test_the_storage_quota_refuses_new_uploads_and_references(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    """1 MB per user: a reference of ~0.6 MB fits; a second one, or a job's upload on top, does not."""
    fake = fake_discord
    big = noisy_face(1)
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, max_stored_mb=1)) as bot:
        created = await character(fake, None, "create", {"name": "Mara", "image": attach(fake, big)})
        assert "#1 (primary)" in created.content
        files = media_files(data_dir)
        another = attach(fake, noisy_face(1, seed=4))
        second = await character(fake, None, "add", {"name": "Mara", "image": another})
        upload = attach(fake, noisy_png(), "up.png")
        refused = await generate(fake, None, "on top of it", image=upload)
        text = await private_error(fake, refused)
        rows = await jobs(bot)

    limit = "over this bot's limit of 1 MB per user: delete old results with their Delete button"
    assert "this would bring the images you store to 2 MB, " + limit in second.content
    assert text.startswith("this would bring the images you store to 2 MB, " + limit)
    assert rows == [] and media_files(data_dir) == files


async def test_below_the_disk_floor_nothing_is_fetched_or_stored(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    floor = 10_000_000  # MB (10 TB, the most the setting takes): more than this disk has free
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, min_free_mb=floor)) as bot:
        upload = png_attachment(fake)
        text = await private_error(fake, await generate(fake, None, "no room", image=upload))
        face = await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        rows = await jobs(bot)

    disk = f"under its floor of {floor} MB: nothing new can be stored until the operator frees space"
    assert text.startswith("the bot's disk has only") and text.endswith(disk)
    assert cdn_gets(fake, upload) == 0
    assert disk in face.content and "#1" not in face.content
    assert rows == [] and media_files(data_dir) == []


async def test_uploads_past_the_decode_pool_are_told_the_bot_is_busy(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    """/generate's image and /character add's photo: a private "busy, send it again", nothing kept."""
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, decode_workers=1)) as bot:
        made = await character(fake, None, "create", {"name": "Mara"})
        assert "Created **Mara**" in made.content
        bot.services.decodes.wait = 0.2
        release = threading.Event()
        held = asyncio.create_task(bot.services.decodes.run(release.wait, 10))  # another upload
        try:
            before = media_files(data_dir)
            refused = await generate(fake, None, "a fox", image=png_attachment(fake))
            busy = (
                "the bot is busy reading other people's images: nothing was kept, send it again in 5 seconds"
            )
            assert await private_error(fake, refused) == busy
            added = await character(fake, None, "add", {"name": "Mara", "image": attach(fake, face_photo(1))})
            assert busy in added.content
            assert await jobs(bot) == [] and media_files(data_dir) == before
            [mara] = await bot.services.characters.repo.list(fake.user.id)
            assert mara.image_count == 0
        finally:
            release.set()
            await held
