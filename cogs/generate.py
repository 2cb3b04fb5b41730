"""``/generate``: parse, check attachments, queue. Everything else happens in bot/ and delivery."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.attachments import check_image, check_mask, check_metadata
from bot.client import LikenessBot
from bot.engine.images import ASPECT_RATIOS
from bot.engine.outpaint import OUTPAINT_TARGETS, check_outpaint
from bot.engine.styles import STYLE_NAMES
from bot.errors import InvalidRequest
from bot.jobs import (
    CFG_RANGE,
    DEFAULT_CFG,
    DEFAULT_IDENTITY_WEIGHT,
    DEFAULT_IMAGE_WEIGHT,
    IDENTITY_WEIGHT_RANGE,
    IMAGE_WEIGHT_RANGE,
    MAX_PROMPT_CHARS,
    MAX_TRIES_RANGE,
    MIN_IDENTITY_RANGE,
    SEED_MAX,
    STEPS_RANGE,
    GenerationRequest,
    Mode,
)
from bot.validation import face_lock_defaults, validate_request
from cogs.submit import defer_public, enqueue
from cogs.uploads import download

log = logging.getLogger(__name__)

MODE_CHOICES = [
    app_commands.Choice(name="img2img: transform the image", value="img2img"),
    app_commands.Choice(name="image prompt: the image as art direction", value="image_prompt"),
    app_commands.Choice(name="inpaint: repaint the mask's white area", value="inpaint"),
    app_commands.Choice(name="outpaint: extend the canvas", value="outpaint"),
]


def _choices(values: tuple[str, ...]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=v, value=v) for v in values]


class Generate(commands.Cog):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot

    @app_commands.command(name="generate", description="Make images from a prompt, guided by an image")
    @app_commands.describe(
        prompt="What to make, or how to change the image (“keep the face, rainy street at night”)",
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
    )
    @app_commands.choices(
        identity_mode=[
            app_commands.Choice(name="all references", value="all"),
            app_commands.Choice(name="mean of the references", value="mean"),
        ],
        mode=MODE_CHOICES,
        expand=_choices(OUTPAINT_TARGETS),
        style=_choices(STYLE_NAMES),
        aspect=_choices(ASPECT_RATIOS),
    )
    async def generate(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        image: discord.Attachment | None = None,
        mode: app_commands.Choice[str] | None = None,
        strength: app_commands.Range[float, 0.0, 1.0] | None = None,
        cfg: app_commands.Range[float, CFG_RANGE[0], CFG_RANGE[1]] = DEFAULT_CFG,
        steps: app_commands.Range[int, STEPS_RANGE[0], STEPS_RANGE[1]] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        negative: app_commands.Range[str, 0, MAX_PROMPT_CHARS] = "",
        mask: discord.Attachment | None = None,
        expand: app_commands.Choice[str] | None = None,
        image_weight: app_commands.Range[
            float, IMAGE_WEIGHT_RANGE[0], IMAGE_WEIGHT_RANGE[1]
        ] = DEFAULT_IMAGE_WEIGHT,
        candidates: app_commands.Range[int, 1, 4] = 1,
        style: app_commands.Choice[str] | None = None,
        aspect: app_commands.Choice[str] | None = None,
        character: app_commands.Range[str, 1, 100] | None = None,
        character_weight: app_commands.Range[
            float, IDENTITY_WEIGHT_RANGE[0], IDENTITY_WEIGHT_RANGE[1]
        ] = DEFAULT_IDENTITY_WEIGHT,
        min_identity: app_commands.Range[float, MIN_IDENTITY_RANGE[0], MIN_IDENTITY_RANGE[1]] | None = None,
        max_tries: app_commands.Range[int, MAX_TRIES_RANGE[0], MAX_TRIES_RANGE[1]] | None = None,
        identity_mode: app_commands.Choice[str] | None = None,
    ) -> None:
        chosen = Mode(mode.value) if mode else (Mode.IMG2IMG if image else Mode.TEXT)
        settings = self.bot.settings
        floor, tries = face_lock_defaults(
            min_identity,
            max_tries,
            has_character=character is not None,
            server_min_identity=settings.min_identity,
            budget=settings.max_tries,
        )
        request = GenerationRequest(
            prompt=prompt,
            mode=chosen,
            negative=negative,
            strength=strength,
            cfg=cfg,
            steps=steps or settings.default_steps,
            seed=seed,
            candidates=candidates,
            style=style.value if style else None,
            expand=expand.value if expand else None,
            image_weight=image_weight,
            aspect=aspect.value if aspect else "1:1",
            identity_weight=character_weight,
            min_identity=floor,
            max_tries=tries,
            identity_mode=identity_mode.value if identity_mode else "all",
        )
        # Cheap checks answer privately at once; downloads and full decodes run after the deferral,
        # still before anything is stored. The character's identity itself is read when the job runs.
        request = validate_request(
            request,
            has_image=image is not None,
            has_mask=mask is not None,
            has_identity=character is not None,
        )
        for attachment, what in ((image, "image"), (mask, "mask")):
            if attachment is not None:
                check_metadata(attachment.filename, attachment.content_type, attachment.size, what)
        # The user's own character only (CharacterNotFound otherwise), with at least one reference
        # (CharacterEmpty); checked before the deferral and again when the job runs.
        character_id = None
        if character is not None and chosen is Mode.IMAGE_PROMPT and not settings.face_lock_uses_faceid:
            raise InvalidRequest(
                "face lock cannot be combined with image_prompt on this bot: without IP-Adapter FaceID it "
                "uses the character's primary image as the image prompt, and yours takes that place. "
                "Use img2img, or leave out the character"
            )
        if character is not None:
            repo = self.bot.services.characters.repo
            character_id = (await repo.resolve(interaction.user.id, character)).id
            await self.bot.services.identity.identity_for(interaction.user.id, character_id)
        # Room in the queue (and for the user's files) before anything is downloaded or decoded.
        await self.bot.services.queue.check_room(interaction.user.id)
        message_id = await defer_public(interaction)
        source = mask_file = None
        if image is not None:
            checked = await asyncio.to_thread(check_image, await download(image, "image"), "image")
            if request.expand is not None:  # outpaint: a ratio the picture already has fails here, not queued
                check_outpaint(checked.size, request.expand)
            source = (checked.data, checked.ext)
            if mask is not None:
                mask_checked = await asyncio.to_thread(check_mask, await download(mask, "mask"), checked.size)
                mask_file = (mask_checked.data, mask_checked.ext)
        await enqueue(
            self.bot,
            interaction,
            request,
            message_id=message_id,
            image=source,
            mask=mask_file,
            character_id=character_id,
        )

    @generate.autocomplete("character")
    async def character_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        found = await self.bot.services.characters.repo.search(interaction.user.id, current)
        return [app_commands.Choice(name=c.name, value=c.name) for c in found][:25]


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(Generate(bot))
