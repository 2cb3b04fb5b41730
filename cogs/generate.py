"""``/generate``: the job options into ``JobParams``, defer, hand over to ``bot.actions.submissions``."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.client import LikenessBot
from bot.options import SAMPLER_NAMES, job_params
from cogs.utils.attachments import fetch, upload_info
from cogs.utils.interactions import defer_public, destination_of
from cogs.utils.options import declared, job_values
from cogs.utils.replies import tell
from cogs.utils.texts import embedding_line, lora_line, models_text

log = logging.getLogger(__name__)


class Generate(commands.Cog):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot

    @app_commands.command(name="generate", description="Make images from a prompt, guided by an image")
    @declared
    async def generate(
        self,
        interaction: discord.Interaction,
        prompt: str | None = None,
        image: discord.Attachment | None = None,
        mode: str | None = None,
        strength: float | None = None,
        cfg: float | None = None,
        steps: int | None = None,
        seed: int | None = None,
        negative: str | None = None,
        mask: discord.Attachment | None = None,
        image_weight: float | None = None,
        candidates: int | None = None,
        style: str | None = None,
        aspect: str | None = None,
        character: str | None = None,
        character_weight: float | None = None,
        min_identity: float | None = None,
        max_tries: int | None = None,
        identity_mode: str | None = None,
        lora: str | None = None,
        structure: str | None = None,
        structure_weight: float | None = None,
        clip_skip: int | None = None,
        sampler: str | None = None,
        model: str | None = None,
        speed: str | None = None,
    ) -> None:
        """Every parameter after ``interaction`` is a job option: ``@declared`` gives it its range,
        choices and description, and ``job_params`` its default."""
        params = job_params(job_values(locals()), image=image is not None)
        submissions = self.bot.services.submissions
        # Cheap checks answer privately at once; downloads and full decodes run after the deferral,
        # still before anything is stored.
        draft = await submissions.check(
            interaction.user.id,
            params,
            image=upload_info(image) if image else None,
            mask=upload_info(mask) if mask else None,
            character=character,
            guild_id=interaction.guild_id,
        )
        message_id = await defer_public(interaction)
        image_data = await fetch(image, "image") if image else None
        mask_data = await fetch(mask, "mask") if mask else None
        await submissions.submit(
            draft, destination_of(interaction, message_id), image=image_data, mask=mask_data
        )

    @generate.autocomplete("lora")
    async def lora_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Completes the last name of a comma list ("anime:0.8, fi" → "anime:0.8, film")."""
        done, _, last = current.rpartition(",")
        prefix = f"{done.strip()}, " if done.strip() else ""
        typed = last.strip().lower()
        names = [f.name for f in self.bot.services.loras.files() if f.problem is None]
        return [
            app_commands.Choice(name=(prefix + name)[:100], value=(prefix + name)[:100])
            for name in names
            if name.lower().startswith(typed)
        ][:25]

    @app_commands.command(
        name="loras", description="The style LoRAs and embeddings this bot has, with their model family"
    )
    async def loras(self, interaction: discord.Interaction) -> None:
        library = self.bot.services.loras
        family = self.bot.services.runner.capabilities.family
        if library.enabled:
            files = await asyncio.to_thread(library.files)
            head = f"LoRAs for this {family.label} model" if family is not None else "LoRAs"
            lines = [f"{head} (use: lora:NAME:WEIGHT or <lora:NAME:WEIGHT>):"]
            lines += [lora_line(f, family) for f in files] or [
                "no LoRAs yet: the operator adds .safetensors files"
            ]
        else:
            lines = ["LoRAs are not set up on this bot (the operator sets LIKENESS_LORA_DIR)"]
        embeddings = await asyncio.to_thread(self.bot.services.embeddings.files)
        if embeddings:
            lines.append("Embeddings (write the name in the prompt or the negative, as in A1111):")
            lines += [embedding_line(e, family) for e in embeddings]
        await tell(interaction, "\n".join(lines))

    @generate.autocomplete("model")
    async def model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The configured checkpoints (LIKENESS_MODELS), the default first."""
        models = self.bot.services.runner.models
        names = sorted(models.names, key=lambda n: n != models.default)
        typed = current.lower()
        return [app_commands.Choice(name=n, value=n) for n in names if typed in n.lower()][:25]

    @app_commands.command(name="models", description="The checkpoints this bot offers, and which are loaded")
    async def models(self, interaction: discord.Interaction) -> None:
        runner = self.bot.services.runner
        await tell(interaction, models_text(runner.model_states(), runner.models.budget.label))

    @generate.autocomplete("sampler")
    async def sampler_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Each sampler, alone and with each schedule type it takes ("DPM++ 2M Karras")."""
        typed = current.lower()
        return [app_commands.Choice(name=n, value=n) for n in SAMPLER_NAMES if typed in n.lower()][:25]

    @generate.autocomplete("style")
    async def style_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The presets and the server's own styles (LIKENESS_STYLE_LORAS)."""
        names = self.bot.services.settings.defaults.style_names
        return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n.lower()][:25]

    @generate.autocomplete("character")
    async def character_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        found = await self.bot.services.characters.repo.search(interaction.user.id, current)
        return [app_commands.Choice(name=c.name, value=c.name) for c in found][:25]


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(Generate(bot))
