"""A first end-to-end pass: /generate with an attachment through the real bot."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from bot.tiny import TinyBundle
from tests.cogs.harness import bot_settings, running_bot
from tests.engine.helpers import gradient_image, png_bytes
from tests.fakediscord import FakeDiscord


async def test_generate_img2img_delivers_png(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, tmp_path: Path
) -> None:
    async with running_bot(fake_discord, bot_settings(tiny_bundle, tmp_path / "data")):
        ref = fake_discord.add_attachment(png_bytes(gradient_image(96, 64)), "src.png", "image/png")
        inter = await fake_discord.slash(
            None, "generate", {"prompt": "rainy street", "image": ref, "strength": 0.5, "seed": 5}
        )
        assert (await inter.wait_response()).type == 5
        msg = await inter.wait_final(lambda m: bool(m.files))
        image = Image.open(io.BytesIO(msg.files[0].data))
        assert image.format == "PNG" and image.width > image.height
        assert "Seed" in str(msg.embeds)
