"""Structure control from Discord: the options, the Show structure button (after a restart too), the
recorded parameters, and the refusals before anything is queued."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from bot.engine.metadata import read_parameters
from bot.tiny import TinyBundle
from tests.cogs.harness import (
    bot_settings,
    ephemeral_reply,
    generate,
    jobs,
    media_files,
    png_attachment,
    private_error,
    result_message,
    running_bot,
)
from tests.fakediscord import FakeDiscord


async def test_structure_is_kept_shown_and_recorded(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    settings = bot_settings(tiny_bundle, data_dir, queue_per_user=5)
    async with running_bot(fake, settings) as bot:
        call = await generate(
            fake, None, "a castle", image=png_attachment(fake, 96, 64), structure="canny", seed=5
        )
        message = await result_message(call)
        [job] = await jobs(bot)
        assert (job.params.structure, job.params.structure_weight) == ("canny", 1.0)
        assert job.structure_media is not None
        fields = read_parameters(message.files[0].data)
        assert fields["Structure"] == "canny" and fields["Structure model"] == "controlnet-canny"
        assert f"lk:structure:{job.id}" in message.custom_ids
        new = await generate(
            fake, None, "a castle", image=png_attachment(fake, 96, 64), mode="text", structure="depth"
        )
        new_message = await result_message(new)
        assert Image.open(io.BytesIO(new_message.files[0].data)).size == (96, 64)  # the reference's shape
        plain = await result_message(await generate(fake, None, "a castle", seed=5))
        assert not any(c.startswith("lk:structure:") for c in plain.custom_ids)
    # the button is read from the database: it works after a restart
    async with running_bot(fake, settings):
        shown = await ephemeral_reply(await fake.click(None, message, f"lk:structure:{job.id}"))
        assert shown.content == f"The canny map job {job.id} kept (structure weight 1):"
        edges = Image.open(io.BytesIO(shown.files[0].data))
        assert edges.mode == "RGB" and edges.size == (96, 64)


async def test_bad_structure_requests_are_refused_before_queueing(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, controlnet_depth="none")) as bot:
        before = media_files(data_dir)
        for options, expected in (
            ({"structure": "canny"}, "structure canny keeps the composition of an image: attach"),
            ({"structure_weight": 0.5}, "structure_weight needs a structure"),
            (
                {"structure": "depth", "image": png_attachment(fake)},
                "structure depth is not set up on this bot (this bot offers canny): the operator sets "
                "LIKENESS_CONTROLNET_DEPTH",
            ),
        ):
            refused = await generate(fake, None, "x", **options)
            assert expected in await private_error(fake, refused), options
        assert await jobs(bot) == [] and media_files(data_dir) == before


async def test_show_structure_from_an_upload_is_the_owners_alone(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    """The map drawn from Alice's upload is hers, as the upload is; a Vary of her posted output
    draws its map from that output, so anyone who sees the result may see it."""
    fake = fake_discord
    alice, bob = fake.user, fake.add_user("bob")
    async with running_bot(fake, bot_settings(tiny_bundle, data_dir, queue_per_user=5)) as bot:
        call = await generate(fake, alice, "a castle", image=png_attachment(fake, 96, 64), structure="canny")
        message = await result_message(call)
        [job] = await jobs(bot)
        refused = await ephemeral_reply(await fake.click(bob, message, f"lk:structure:{job.id}"))
        assert refused.content == (
            f"the structure map of job {job.id} was drawn from a picture its owner uploaded, "
            "so only they can see it"
        )
        assert not refused.files
        shown = await ephemeral_reply(await fake.click(alice, message, f"lk:structure:{job.id}"))
        assert shown.files and shown.content.startswith(f"The canny map job {job.id} kept")

        varied = await result_message(await fake.click(bob, message, f"lk:vary:{job.id}:0"))
        vary_job = (await jobs(bot))[-1]
        assert vary_job.user_id == bob.id and vary_job.structure_media is not None
        seen = await ephemeral_reply(await fake.click(alice, varied, f"lk:structure:{vary_job.id}"))
        assert seen.files and seen.content.startswith(f"The canny map job {vary_job.id} kept")
        again = await result_message(await fake.click(bob, varied, f"lk:reroll:{vary_job.id}"))
        reroll_job = (await jobs(bot))[-1]
        assert reroll_job.parent_job_id == vary_job.id  # it keeps the Vary's source: the posted output
        kept = await ephemeral_reply(await fake.click(alice, again, f"lk:structure:{reroll_job.id}"))
        assert kept.files
