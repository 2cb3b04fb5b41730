"""Several checkpoints from Discord: /models, the model option with its autocomplete, a job on the
other family's model (after a swap, and back), Reroll keeping the model, and unknown names refused."""

from __future__ import annotations

from pathlib import Path

from bot.app.settings import load_settings
from bot.engine.metadata import read_parameters
from bot.tiny import TinyBundle
from storage import JobOrigin
from tests.cogs.harness import ephemeral_reply, generate, jobs, private_error, result_message, running_bot
from tests.fakediscord import FakeDiscord


def models_settings(bundle: TinyBundle, data_dir: Path, **overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {"discord_token": "fake-bot-token", "data_dir": data_dir, "default_steps": 3}
    return load_settings(bundle.models_env, **{**values, **overrides})


async def test_models_are_listed_chosen_swapped_and_kept_by_reroll(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, models_settings(tiny_bundle, data_dir)) as bot:
        listing = await ephemeral_reply(await fake.slash(None, "models", {}))
        assert "1 model kept loaded" in listing.content
        assert "• **tiny-sd15** (default): SD 1.5, loaded" in listing.content
        assert "• **tiny-sdxl**: family known once loaded, not loaded" in listing.content

        offered = await fake.autocomplete(None, "generate", {"prompt": "x", "model": "xl"}, "model")
        assert [c["value"] for c in offered] == ["tiny-sdxl"]
        everything = await fake.autocomplete(None, "generate", {"prompt": "x", "model": ""}, "model")
        assert [c["value"] for c in everything] == ["tiny-sd15", "tiny-sdxl"]  # the default first

        sdxl = await result_message(await generate(fake, None, "a lighthouse", model="tiny-sdxl", seed=4))
        fields = read_parameters(sdxl.files[0].data)
        assert fields["Model"] == "tiny-sdxl" and fields["Clip skip"] == "2"  # the model's own default
        assert bot.services.worker.engine.pipes.family.value == "sdxl"
        listing = await ephemeral_reply(await fake.slash(None, "models", {}))
        assert "• **tiny-sdxl**: SDXL, loaded" in listing.content
        assert "• **tiny-sd15** (default): SD 1.5, not loaded" in listing.content  # one kept: swapped out

        plain = await result_message(await generate(fake, None, "a lighthouse", seed=4))
        fields = read_parameters(plain.files[0].data)
        assert fields["Model"] == "tiny-sd15" and "Clip skip" not in fields
        assert bot.services.worker.engine.pipes.family.value == "sd15"

        [first, _] = sorted(await jobs(bot), key=lambda j: j.id)
        reroll = await fake.click(None, sdxl, f"lk:reroll:{first.id}")
        rerolled = await result_message(reroll)
        again = next(j for j in await jobs(bot) if j.origin is JobOrigin.REROLL)
        assert again.params.model == "tiny-sdxl" and again.params.clip_skip == 2
        assert read_parameters(rerolled.files[0].data)["Model"] == "tiny-sdxl"
        assert bot.services.worker.shelf.loads == 4  # sd15 at start, sdxl, sd15, sdxl


async def test_an_unknown_model_is_refused_with_the_names_and_nothing_is_stored(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    fake = fake_discord
    async with running_bot(fake, models_settings(tiny_bundle, data_dir)) as bot:
        call = await fake.slash(None, "generate", {"prompt": "a lighthouse", "model": "tiny-sd3"})
        message = await private_error(fake, call)
        assert message == "unknown model 'tiny-sd3': choose one of tiny-sd15, tiny-sdxl"
        assert await jobs(bot) == []
