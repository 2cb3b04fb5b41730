"""Style LoRAs from Discord: /loras, the lora option with its autocomplete, the prompt syntax, and the
refusals before anything is queued."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.engine.metadata import read_parameters
from bot.tiny import TinyBundle
from bot.tiny.embeddings import STYLE
from tests.cogs.harness import (
    bot_settings,
    ephemeral_reply,
    generate,
    jobs,
    private_error,
    result_message,
    running_bot,
)
from tests.fakediscord import FakeDiscord


async def test_loras_are_listed_completed_used_and_recorded(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=5)) as bot:
        listing = await ephemeral_reply(await fake.slash(None, "loras", {}))
        assert listing.content.splitlines()[0].startswith("LoRAs for this SD 1.5 model")
        assert "• **ink**: SD 1.5, 0.1 MB" in listing.content  # kohya metadata names its base model
        # The tiny diffusers-format file has no metadata, and its widths are no real model's: said so.
        assert "• **glow**: unknown family, 0.1 MB" in listing.content

        completed = await fake.autocomplete(None, "generate", {"prompt": "x", "lora": "ink:0.8, g"}, "lora")
        assert [c["value"] for c in completed] == ["ink:0.8, glow"]

        call = await generate(fake, None, "a lighthouse <lora:glow:0.5>", lora="ink:0.8", seed=3)
        message = await result_message(call)
        [job] = await jobs(bot)
        assert job.params.prompt == "a lighthouse"
        assert [str(u) for u in job.params.loras] == ["ink:0.8", "glow:0.5"]
        fields = read_parameters(message.files[0].data)
        assert fields["prompt"] == "a lighthouse, <lora:ink:0.8>, <lora:glow:0.5>"
        assert fields["Lora hashes"].startswith("ink: ") and ", glow: " in fields["Lora hashes"]
        info = await ephemeral_reply(await fake.click(None, message, f"lk:info:{job.id}"))
        assert "lora ink:0.8, glow:0.5" in info.content

        for options, expected in (
            ({"lora": "nope"}, "there is no LoRA called “nope”: /loras lists them (glow, ink)"),
            ({"lora": "ink, glow, ink"}, "the LoRA “ink” is given twice"),
            ({"lora": "ink:9"}, "the weight of the LoRA “ink” must be between -2 and 2 (got 9)"),
        ):
            refused = await generate(fake, None, "x", **options)
            assert expected in await private_error(fake, refused), options
        assert len(await jobs(bot)) == 1


async def test_without_a_lora_folder_loras_are_off(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, lora_dir=None, embedding_dir=None)):
        said = await ephemeral_reply(await fake.slash(None, "loras", {}))
        assert said.content == "LoRAs are not set up on this bot (the operator sets LIKENESS_LORA_DIR)"
        refused = await generate(fake, None, "x", lora="ink")
        assert "LoRAs are not set up on this bot" in await private_error(fake, refused)


async def test_a_server_style_can_mean_a_lora(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    styles = {"anime": "ink:0.8", "cartoon": "glow:0.5"}
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, style_loras=styles)):
        offered = await fake.autocomplete(None, "generate", {"prompt": "x", "style": "an"}, "style")
        assert [c["value"] for c in offered] == ["anime"]
        message = await result_message(await generate(fake, None, "a harbour", style="anime", seed=2))
        fields = read_parameters(message.files[0].data)
        assert fields["prompt"] == "a harbour, <lora:ink:0.8>" and fields["Style"] == "anime"
        cartoon = read_parameters(
            (await result_message(await generate(fake, None, "a harbour", style="cartoon"))).files[0].data
        )
        assert cartoon["prompt"] == "a harbour, <lora:glow:0.5>" and cartoon["Style"] == "cartoon"


async def test_embeddings_are_listed_used_by_name_and_recorded(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tiny_sdxl_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    folder = data_dir.parent / "embeddings"  # its own copy: the test adds a file
    shutil.copytree(tiny_bundle.embedding_dir, folder)
    async with running_bot(
        fake, bot_settings(tiny_bundle, data_dir, lora_dir=None, embedding_dir=folder)
    ) as bot:
        listing = await ephemeral_reply(await fake.slash(None, "loras", {}))
        assert "Embeddings (write the name in the prompt or the negative, as in A1111):" in listing.content
        assert f"• **{STYLE}**: SD 1.5, 2 vectors" in listing.content
        message = await result_message(
            await generate(fake, None, "a lighthouse", negative=f"{STYLE}", seed=3)
        )
        fields = read_parameters(message.files[0].data)
        assert fields["negative"] == STYLE and fields["TI hashes"].startswith(f"{STYLE}: ")
        foreign = folder / "xlstyle.safetensors"
        shutil.copy(tiny_sdxl_bundle.embedding_dir / f"{STYLE}.safetensors", foreign)
        refused = await generate(fake, None, "a lighthouse, xlstyle")
        said = await private_error(fake, refused)
        assert "the embedding “xlstyle” is made for SDXL, but this bot runs an SD 1.5 model" in said
        assert len(await jobs(bot)) == 1
