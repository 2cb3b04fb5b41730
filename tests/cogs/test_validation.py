"""Bad input to /generate: a clear private message naming the problem, and nothing stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.tiny import TinyBundle
from tests.bot.engine.helpers import gradient_image, png_bytes
from tests.cogs.harness import (
    bot_settings,
    generate,
    jobs,
    mask_attachment,
    media_files,
    png_attachment,
    private_error,
    running_bot,
)
from tests.fakediscord import FakeDiscord


async def test_bad_attachments_are_refused_privately(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    whole = png_bytes(gradient_image(64, 64))
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"image": fake.add_attachment(b"just some notes\n", "notes.txt", "text/plain")},
            "“notes.txt” is text/plain, not an image",
        ),
        (
            {"image": fake.add_attachment(whole[: len(whole) // 2], "cut.png", "image/png")},
            "truncated or corrupt",
        ),
        (
            {"image": fake.add_attachment(png_bytes(gradient_image(32, 32)), "tiny.png", "image/png")},
            "only 32×32 pixels; each side must be at least 64",
        ),
        (
            {"image": png_attachment(fake, 96, 64), "mask": mask_attachment(fake, 64, 64), "mode": "inpaint"},
            "the mask is 64×64",
        ),
        ({"mode": "inpaint", "image": png_attachment(fake)}, "inpaint needs a mask"),
    ]
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        for options, expected in cases:
            inter = await generate(fake, None, "a boat", **options)
            text = await private_error(fake, inter)
            assert expected in text, (options, text)
            original = inter.original  # no public "thinking…" left: deleted, or never public at all
            assert original is not None and (original.deleted or original.ephemeral)
        assert await jobs(bot) == []
    assert media_files(data_dir) == []


async def test_out_of_range_values_are_checked_again(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        # Discord's client enforces the declared ranges (tests/test_option_parity.py checks what the
        # command registers) ...
        # ... but a hand-made interaction can carry anything: the fake passes values through as sent.
        cases: list[tuple[dict[str, Any], str]] = [
            ({"steps": 500}, "steps must be between 1 and 100 (got 500)"),
            ({"cfg": 35.0}, "cfg must be between 0 and 20 (got 35.0)"),
            ({"candidates": 9}, "candidates must be between 1 and 4 (got 9)"),
            ({"seed": 2**40}, "seed must be between 0 and"),
            ({"strength": 1.5, "image": png_attachment(fake)}, "strength must be between 0 and 1 (got 1.5)"),
            ({"image_weight": -1.0}, "image_weight must be between 0 and 1.5 (got -1.0)"),
            ({"prompt": "x" * 1200}, "the prompt is 1200 characters; the limit is 1000"),
            ({"prompt": "   "}, "the prompt is empty"),
        ]
        for values, expected in cases:
            inter = await generate(fake, None, **values)
            text = await private_error(fake, inter)
            assert expected in text, (values, text)
        assert await jobs(bot) == []
    assert media_files(data_dir) == []


async def test_pictures_the_job_could_not_use_are_refused_before_queueing(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    """Refusals that used to wait in the queue and fail when the job ran: a shape beyond 4:1, and
    outpainting to the ratio the picture already has (or past 4:1)."""
    fake = fake_discord
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"image": png_attachment(fake, 320, 64)},
            "the image is 320×64, which is 5.0:1 wide; the limit is 4:1",
        ),
        (
            {"image": png_attachment(fake, 64, 288), "mode": "image_prompt"},
            "the image is 64×288, which is 4.5:1 tall; the limit is 4:1",
        ),
        (
            {"image": png_attachment(fake, 96, 96), "mode": "outpaint", "aspect": "1:1"},
            "the picture is already 1:1; choose another ratio or a direction",
        ),
        (
            {"image": png_attachment(fake, 128, 72), "mode": "outpaint", "aspect": "16:9"},
            "the picture is already 16:9",
        ),
        (
            {"image": png_attachment(fake, 192, 64), "mode": "outpaint", "aspect": "right"},
            "extending the 192×64 picture to the right would make it 4.5:1; the limit is 4:1",
        ),
    ]
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        for options, expected in cases:
            inter = await generate(fake, None, "a boat", **options)
            text = await private_error(fake, inter)
            assert expected in text, (options, text)
            original = inter.original
            assert original is not None and (original.deleted or original.ephemeral)
        assert await jobs(bot) == []
    assert media_files(data_dir) == []
