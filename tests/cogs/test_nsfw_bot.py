"""The NSFW check end to end: the real bot against the fake Discord, the tiny ViT classifier through
transformers' own loader. A white picture inpainted stays white outside the mask, so the classifier
flags it; a black one it clears. A flagged image is posted in a channel Discord marks age-restricted
and withheld elsewhere (the message says how many and why, and carries no file, button, seed or Info
line that shows it); a DM follows LIKENESS_NSFW_DMS."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from bot.tiny import TinyBundle
from tests.bot.engine.helpers import png_bytes
from tests.cogs.harness import (
    bot_settings,
    ephemeral_reply,
    jobs,
    mask_attachment,
    result_message,
    running_bot,
)
from tests.fakediscord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser

NOT_AGE_RESTRICTED = "flagged NSFW, and this channel is not age-restricted"


def picture(fake: FakeDiscord, colour: str) -> dict[str, Any]:
    return fake.add_attachment(png_bytes(Image.new("RGB", (64, 64), colour)), f"{colour}.png", "image/png")


async def inpaint(
    fake: FakeDiscord,
    colour: str,
    *,
    user: FakeUser | None = None,
    channel_id: int | None = None,
    dm: bool = False,
    seed: int = 11,
) -> FakeInteraction:
    options = {
        "prompt": "a door",
        "image": picture(fake, colour),
        "mask": mask_attachment(fake),
        "mode": "inpaint",
        "candidates": 2,
        "seed": seed,
    }
    interaction = await fake.slash(user, "generate", options, channel_id=channel_id, dm=dm)
    await interaction.wait_response()
    return interaction


async def finished(interaction: FakeInteraction) -> FakeMessage:
    """The job message once it says the job is done (with images or without)."""
    return await interaction.wait_final(lambda m: " is done: " in m.content, 60)


def embed_fields(message: FakeMessage) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0]["fields"]}


async def test_flagged_images_go_only_to_age_restricted_channels(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    art = fake.add_channel("art-18", nsfw=True)
    bob = fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        # An age-restricted channel: both flagged images are posted, with their buttons.
        posted = await result_message(await inpaint(fake, "white", channel_id=art))
        assert len(posted.files) == 2 and "withheld" not in posted.content
        [first] = await jobs(bot)
        scores = [o.nsfw for o in await bot.services.jobs.outputs(first.id)]
        assert all(s is not None and s >= 0.5 for s in scores), scores  # stored with each output
        assert {f"lk:vary:{first.id}:0", f"lk:vary:{first.id}:1"} <= set(posted.custom_ids)
        panel = await ephemeral_reply(await fake.click(bob, posted, f"lk:reframe:{first.id}:0"))

        # A normal channel: the same picture is withheld, and the message says so.
        message = await finished(await inpaint(fake, "white"))
        second = max(j.id for j in await jobs(bot))
        assert message.files == []
        assert f"2 of 2 images were withheld: {NOT_AGE_RESTRICTED}" in message.content
        assert not any(i.startswith(("lk:vary:", "lk:reframe:")) for i in message.custom_ids)  # nobody saw it
        assert embed_fields(message)["Seed"] == "withheld"
        assert "11" not in json.dumps(message.embeds)  # neither candidate's seed (11, 12)
        info = await ephemeral_reply(await fake.click(bob, message, f"lk:info:{second}"))
        assert "2 outputs withheld here: flagged NSFW" in info.content and "Seeds" not in info.content
        assert len(await bot.services.jobs.outputs(second)) == 2  # kept, for where they may be shown

        # A picture the classifier clears is posted in the normal channel as ever.
        dark = await result_message(await inpaint(fake, "black"))
        assert len(dark.files) == 2 and "withheld" not in dark.content

        # The moderators lift the channel's age restriction: the old message's Vary is refused there.
        await fake.update_channel(art, nsfw=False)
        refused = await ephemeral_reply(await fake.click(bob, posted, f"lk:vary:{first.id}:0"))
        assert refused.content.endswith(f"output 1 of job {first.id} is withheld here: flagged NSFW")
        for custom_id, where in ((f"lk:reframe:{first.id}:0", posted), (f"lk:zoomout:{first.id}:0", panel)):
            refused = await ephemeral_reply(await fake.click(bob, where, custom_id))
            assert refused.content.endswith("is withheld here: flagged NSFW"), custom_id
        assert len(await jobs(bot)) == 3  # nothing queued
        info = await ephemeral_reply(await fake.click(bob, posted, f"lk:info:{first.id}"))
        assert "2 outputs withheld here" in info.content
    fake.assert_no_violations()


async def test_the_threshold_withholds_one_candidate_and_keeps_the_other(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    """Two candidates of one job score apart: a threshold between them flags only the higher."""
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        options = {"prompt": "a lighthouse", "candidates": 2, "seed": 3}
        first = await result_message(await fake.slash(None, "generate", options))
        assert len(first.files) == 2
        [job] = await jobs(bot)
        low, high = sorted(await bot.services.jobs.outputs(job.id), key=lambda o: o.nsfw or 0)
        assert low.nsfw is not None and high.nsfw is not None and low.nsfw < high.nsfw < 0.5
        bot.services.nsfw = replace(bot.services.nsfw, threshold=(low.nsfw + high.nsfw) / 2)

        again = await fake.slash(None, "generate", options)  # the same seed: the same two pictures
        message = await result_message(again)
        second = max(j.id for j in await jobs(bot))
        assert f"1 of 2 images was withheld: {NOT_AGE_RESTRICTED}" in message.content
        [file] = message.files
        assert file.filename == f"likeness-{second}-{low.idx + 1}-{low.seed}.png"
        vary = [i for i in message.custom_ids if i.startswith("lk:vary:")]
        assert vary == [f"lk:vary:{second}:{low.idx}"]
        assert embed_fields(message)["Seed"] == str(low.seed)


async def test_direct_messages_follow_the_bot_wide_setting(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        assert bot.services.nsfw.direct_messages is False  # the default
        message = await finished(await inpaint(fake, "white", dm=True))
        assert message.files == []
        assert (
            "2 of 2 images were withheld: flagged NSFW, and the bot sends no images flagged NSFW in "
            "direct messages." in message.content
        )
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, nsfw_dms=True)) as bot:
        posted = await result_message(await inpaint(fake, "white", dm=True, seed=21))
        assert len(posted.files) == 2 and "withheld" not in posted.content
        channel = await inpaint(fake, "white", seed=22)  # a server's normal channel still withholds
        assert (await finished(channel)).files == []


async def test_a_server_set_to_never_withholds_even_in_age_restricted_channels(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    """The server's ``nsfw`` setting narrows Discord's rule, for results and for buttons alike, and a
    change applies to the next one without a restart."""
    fake = fake_discord
    art = fake.add_channel("art-18", nsfw=True)
    bob = fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir)) as bot:
        posted = await result_message(await inpaint(fake, "white", channel_id=art))
        [first] = await jobs(bot)
        await bot.services.guilds.set(fake.guild_id, "nsfw", "never", by=bob.id)
        message = await finished(await inpaint(fake, "white", channel_id=art, seed=31))
        assert message.files == []
        assert "2 of 2 images were withheld: flagged NSFW, and this server allows no images flagged NSFW." \
            in message.content
        refused = await ephemeral_reply(await fake.click(bob, posted, f"lk:vary:{first.id}:0"))
        assert refused.content.endswith(f"output 1 of job {first.id} is withheld here: flagged NSFW")
        await bot.services.guilds.reset(fake.guild_id, "nsfw", by=bob.id)
        again = await result_message(await inpaint(fake, "white", channel_id=art, seed=41))
        assert len(again.files) == 2
    fake.assert_no_violations()
