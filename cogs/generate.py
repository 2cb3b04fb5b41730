"""``/generate``: parse the options into ``JobParams``, defer, hand over to ``bot.submissions``."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.client import LikenessBot
from bot.params import (
    ASPECT_RATIOS,
    CANDIDATES_RANGE,
    CFG_RANGE,
    DEFAULT_ASPECT,
    DEFAULT_CFG,
    DEFAULT_IDENTITY_WEIGHT,
    DEFAULT_IMAGE_WEIGHT,
    DEFAULT_LORA_WEIGHT,
    IDENTITY_WEIGHT_RANGE,
    IMAGE_WEIGHT_RANGE,
    LORA_WEIGHT_RANGE,
    MAX_PROMPT_CHARS,
    MAX_TRIES_RANGE,
    MIN_IDENTITY_RANGE,
    OUTPAINT_TARGETS,
    SEED_MAX,
    STEPS_RANGE,
    STRENGTH_RANGE,
    STRUCTURE_WEIGHT_RANGE,
    JobParams,
    Mode,
    face_lock,
    parse_loras,
)
from cogs.utils.attachments import fetch, upload_info
from cogs.utils.interactions import defer_public, destination_of
from cogs.utils.replies import tell
from cogs.utils.texts import lora_line

log = logging.getLogger(__name__)

MODE_CHOICES = [
    app_commands.Choice(name="img2img: transform the image", value="img2img"),
    app_commands.Choice(name="image prompt: the image as art direction", value="image_prompt"),
    app_commands.Choice(name="inpaint: repaint the mask's white area", value="inpaint"),
    app_commands.Choice(name="outpaint: extend the canvas", value="outpaint"),
    app_commands.Choice(name="new image: the image as structure only", value="text"),
]


def _choices(values: tuple[str, ...]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=v, value=v) for v in values]


def _value(choice: app_commands.Choice[str] | None) -> str | None:
    return choice.value if choice is not None else None


class Generate(commands.Cog):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot

    @app_commands.command(name="generate", description="Make images from a prompt, guided by an image")
    @app_commands.describe(
        prompt=(
            "What to make, or how to change the image; leave out with an image to have it written "
            "from the image"
        ),
        image="Source image (PNG, JPEG, WebP); leave out to make a new image from the prompt",
        mode="How the image is used (default img2img when an image is attached)",
        strength="0–1: loyalty to the image; 0.2–0.4 keeps a face, 0.7–0.9 transforms",
        cfg="0–20: how hard the prompt pushes (default 7)",
        steps="Denoising steps, 1–100",
        seed="Same seed and settings give the same image; random when left out",
        negative="What to avoid",
        mask="Inpaint: white where the image should change, black elsewhere",
        expand="Outpaint: a target ratio or a direction",
        image_weight="Image prompt influence, 0–1.5 (default 0.6)",
        candidates="How many images to make at once, 1–4",
        style="A style preset",
        aspect="Shape of a new image (no source image)",
        character="Face lock: one of your characters (see /character)",
        character_weight="Face lock strength, 0–1.5 (default 0.8)",
        min_identity="Face lock: remake candidates whose face scores below this (0–1; a few tries at most)",
        max_tries="Face lock: how many tries min_identity may use in all (default: the server's budget)",
        identity_mode="Face lock: all references together (default) or their mean",
        lora=(
            "Style LoRAs, up to three: “anime” or “anime:0.8, film” "
            "(see /loras, or <lora:NAME:W> in the prompt)"
        ),
        lora_weight="LoRA weight where the lora option gives none, -2–2 (default 1)",
        structure="Keep the image's composition: its edges (canny) or its depth, in any mode",
        structure_weight="How strictly the structure is kept, 0–2 (default 1)",
    )
    @app_commands.choices(
        identity_mode=[
            app_commands.Choice(name="all references", value="all"),
            app_commands.Choice(name="mean of the references", value="mean"),
        ],
        mode=MODE_CHOICES,
        expand=_choices(OUTPAINT_TARGETS),
        aspect=_choices(ASPECT_RATIOS),
        structure=[
            app_commands.Choice(name="canny: the outlines", value="canny"),
            app_commands.Choice(name="depth: near and far", value="depth"),
        ],
    )
    async def generate(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS] | None = None,
        image: discord.Attachment | None = None,
        mode: app_commands.Choice[str] | None = None,
        strength: app_commands.Range[float, STRENGTH_RANGE[0], STRENGTH_RANGE[1]] | None = None,
        cfg: app_commands.Range[float, CFG_RANGE[0], CFG_RANGE[1]] = DEFAULT_CFG,
        steps: app_commands.Range[int, STEPS_RANGE[0], STEPS_RANGE[1]] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        negative: app_commands.Range[str, 0, MAX_PROMPT_CHARS] = "",
        mask: discord.Attachment | None = None,
        expand: app_commands.Choice[str] | None = None,
        image_weight: app_commands.Range[
            float, IMAGE_WEIGHT_RANGE[0], IMAGE_WEIGHT_RANGE[1]
        ] = DEFAULT_IMAGE_WEIGHT,
        candidates: app_commands.Range[int, CANDIDATES_RANGE[0], CANDIDATES_RANGE[1]] = 1,
        style: app_commands.Range[str, 1, 50] | None = None,
        aspect: app_commands.Choice[str] | None = None,
        character: app_commands.Range[str, 1, 100] | None = None,
        character_weight: app_commands.Range[
            float, IDENTITY_WEIGHT_RANGE[0], IDENTITY_WEIGHT_RANGE[1]
        ] = DEFAULT_IDENTITY_WEIGHT,
        min_identity: app_commands.Range[float, MIN_IDENTITY_RANGE[0], MIN_IDENTITY_RANGE[1]] | None = None,
        max_tries: app_commands.Range[int, MAX_TRIES_RANGE[0], MAX_TRIES_RANGE[1]] | None = None,
        identity_mode: app_commands.Choice[str] | None = None,
        lora: app_commands.Range[str, 1, 200] | None = None,
        lora_weight: app_commands.Range[
            float, LORA_WEIGHT_RANGE[0], LORA_WEIGHT_RANGE[1]
        ] = DEFAULT_LORA_WEIGHT,
        structure: app_commands.Choice[str] | None = None,
        structure_weight: app_commands.Range[float, STRUCTURE_WEIGHT_RANGE[0], STRUCTURE_WEIGHT_RANGE[1]]
        | None = None,
    ) -> None:
        params = JobParams(
            prompt=prompt or "",
            negative=negative,
            mode=Mode(mode.value) if mode else (Mode.IMG2IMG if image else Mode.TEXT),
            steps=steps,
            cfg=cfg,
            seed=seed,
            candidates=candidates,
            strength=strength,
            image_weight=image_weight,
            expand=_value(expand),
            aspect=_value(aspect) or DEFAULT_ASPECT,
            style=style,
            loras=parse_loras(lora, lora_weight),
            structure=_value(structure),
            structure_weight=structure_weight,
            face=face_lock(
                character,
                weight=character_weight,
                mode=_value(identity_mode),
                min_identity=min_identity,
                max_tries=max_tries,
            ),
        )
        submissions = self.bot.services.submissions
        # Cheap checks answer privately at once; downloads and full decodes run after the deferral,
        # still before anything is stored.
        draft = await submissions.check(
            interaction.user.id,
            params,
            image=upload_info(image) if image else None,
            mask=upload_info(mask) if mask else None,
            character=character,
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

    @app_commands.command(name="loras", description="The style LoRAs this bot has, with their model family")
    async def loras(self, interaction: discord.Interaction) -> None:
        library = self.bot.services.loras
        if not library.enabled:
            await tell(interaction, "LoRAs are not set up on this bot (the operator sets LIKENESS_LORA_DIR)")
            return
        files = await asyncio.to_thread(library.files)
        family = self.bot.services.runner.capabilities.family
        lines = [lora_line(f, family) for f in files] or [
            "no LoRAs yet: the operator adds .safetensors files"
        ]
        head = f"LoRAs for this {family.label} model" if family is not None else "LoRAs"
        await tell(interaction, "\n".join([f"{head} (use: lora:NAME:WEIGHT or <lora:NAME:WEIGHT>):", *lines]))

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
