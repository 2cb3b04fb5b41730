"""/generate end to end: every mode, candidates, seeds in the embed, files uploaded as multipart PNGs."""

from __future__ import annotations

from pathlib import Path

from bot.engine.metadata import read_parameters
from bot.tiny import TinyBundle
from tests.cogs.harness import (
    EngineControl,
    bot_settings,
    generate,
    image_of,
    jobs,
    mask_attachment,
    png_attachment,
    result_message,
    running_bot,
)
from tests.cogs.test_characters import attach, character, face_photo
from tests.fakediscord import FakeDiscord, FakeMessage


def uploads_to(fake: FakeDiscord, message: FakeMessage) -> list[list[str]]:
    """File names of each multipart request that edited ``message``."""
    return [
        r.filenames
        for r in fake.requests
        if r.method == "PATCH" and r.path.endswith(f"/messages/{message.id}") and r.filenames
    ]


def embed_field(message: FakeMessage, name: str) -> str:
    [embed] = message.embeds
    return next(f["value"] for f in embed["fields"] if f["name"] == name)


async def test_every_mode_delivers_pngs(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, engine_control: EngineControl
) -> None:
    fake = fake_discord
    settings = bot_settings(tiny_bundle, data_dir, queue_per_user=10)
    async with running_bot(fake, settings) as bot:
        wide = png_attachment(fake, 96, 64)
        calls = {
            "text": await generate(fake, None, "a red barn", seed=11),
            "img2img": await generate(fake, None, "rainy street", image=wide, strength=0.5, seed=12),
            "image_prompt": await generate(
                fake, None, "a portrait", image=png_attachment(fake, seed=1), mode="image_prompt", seed=13
            ),
            "inpaint": await generate(
                fake,
                None,
                "a hat",
                image=png_attachment(fake, seed=2),
                mask=mask_attachment(fake),
                mode="inpaint",
                seed=14,
            ),
            "outpaint": await generate(
                fake,
                None,
                "more sky",
                image=png_attachment(fake, seed=3),
                mode="outpaint",
                aspect="16:9",  # outpaint's expand, in Discord
                seed=15,
            ),
        }
        results = {mode: await result_message(inter) for mode, inter in calls.items()}
        rows = {job.params.mode: job for job in await jobs(bot)}

    for seed, (mode, message) in enumerate(results.items(), start=11):
        assert calls[mode].callback is not None and calls[mode].callback.type == 5  # deferred at once
        assert rows[mode].status.value == "done", (mode, rows[mode].error)
        assert not message.ephemeral and f"<@{fake.user.id}>" in message.content
        [file] = message.files
        image = image_of(file.data)
        assert image.format == "PNG" and file.filename.endswith(".png")
        assert uploads_to(fake, message) == [[file.filename]], mode  # one multipart edit with the PNG
        assert embed_field(message, "Seed") == str(seed)
        assert [c for c in message.custom_ids if c.startswith("lk:vary:")] == [f"lk:vary:{rows[mode].id}:0"]
    sizes = {mode: image_of(m.files[0].data).size for mode, m in results.items()}
    assert sizes["text"] == (64, 64)
    assert sizes["img2img"][0] > sizes["img2img"][1]  # the source's 3:2 shape is kept
    assert sizes["inpaint"] == (64, 64)
    assert sizes["outpaint"][0] > sizes["outpaint"][1]  # the canvas grew to 16:9
    assert rows["inpaint"].mask_media is not None and rows["text"].input_media is None


async def test_two_candidates_give_two_files_and_two_vary_buttons(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        inter = await generate(fake, None, "two cats", candidates=2, seed=100)
        message = await result_message(inter)
        [job] = await jobs(bot)

    assert len(message.files) == 2
    assert all(image_of(f.data).format == "PNG" for f in message.files)
    assert uploads_to(fake, message) == [[f.filename for f in message.files]]
    assert [f.filename for f in message.files] == [
        f"likeness-{job.id}-1-100.png",
        f"likeness-{job.id}-2-101.png",
    ]
    assert embed_field(message, "Seeds (left to right)") == "100, 101"
    vary = [c for c in message.custom_ids if c.startswith("lk:vary:")]
    assert vary == [f"lk:vary:{job.id}:0", f"lk:vary:{job.id}:1"]
    assert {f"lk:{a}:{job.id}" for a in ("reroll", "info", "delete")} <= set(message.custom_ids)


async def test_an_sdxl_model_serves_the_same_commands(
    fake_discord: FakeDiscord, tiny_sdxl_bundle: TinyBundle, data_dir: Path
) -> None:
    """Only LIKENESS_MODEL (and its adapters) differ: the bot reads the family from the model."""
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_sdxl_bundle, data_dir, queue_per_user=5)) as bot:
        assert bot.services.worker.engine.pipes.family.value == "sdxl"
        await character(fake, None, "create", {"name": "Mara", "image": attach(fake, face_photo(1))})
        calls = {
            "text": await generate(fake, None, "Mara on a beach", character="Mara", seed=1),
            "image_prompt": await generate(
                fake, None, "a portrait", image=png_attachment(fake), mode="image_prompt"
            ),
            "inpaint": await generate(
                fake,
                None,
                "a hat",
                image=png_attachment(fake, seed=2),
                mask=mask_attachment(fake),
                mode="inpaint",
            ),
        }
        results = {mode: await result_message(call) for mode, call in calls.items()}
    for mode, message in results.items():
        fields = read_parameters(message.files[0].data)
        assert fields["Mode"] == mode and fields["Sampler"] == "DPM++ 2M"
    assert read_parameters(results["text"].files[0].data)["Face lock"] == "FaceID"
