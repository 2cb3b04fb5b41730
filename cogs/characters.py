"""``/character …`` (private reference sets) and ``/forget-me``. Thin: parse, call the service, reply."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.client import LikenessBot
from bot.engine.uploads import check_metadata
from cogs.utils.attachments import fetch, upload_info
from cogs.utils.confirm import Confirm
from cogs.utils.contact_sheet import SheetItem, render_contact_sheet
from cogs.utils.replies import tell
from storage import DEFAULT_MAX_IMAGES, MAX_NAME_CHARS, CharacterRow

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
ImageNumber = app_commands.Range[int, 1, DEFAULT_MAX_IMAGES]


def _outcome_lines(outcomes: list[Any]) -> list[str]:
    lines = []
    for o in outcomes:
        name = discord.utils.escape_markdown(o.filename)
        if o.error:
            lines.append(f"✗ {name}: {o.error}")
        else:
            role = "primary" if o.primary else "reference"
            notes = "".join(f"\n   ⚠ {w}" for w in o.warnings)
            lines.append(f"✓ {name}: added as #{o.number} ({role}){notes}")
    return lines


class Characters(commands.GroupCog, group_name="character", group_description="Your private reference sets"):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot
        self.service = bot.services.characters
        self.repo = self.service.repo

    async def _resolve(self, interaction: discord.Interaction, name: str) -> CharacterRow:
        return await self.repo.resolve(interaction.user.id, name)

    async def _downloads(self, attachments: list[discord.Attachment | None]) -> list[tuple[str, bytes]]:
        """Each attachment's metadata checked, then its bytes fetched."""
        present = [a for a in attachments if a is not None]
        for attachment in present:
            check_metadata(upload_info(attachment), "reference")
        return [(a.filename, await fetch(a, "reference")) for a in present]

    async def _add_and_report(
        self,
        interaction: discord.Interaction,
        character: CharacterRow,
        uploads: list[tuple[str, bytes]],
        force: bool,
        header: str,
    ) -> None:
        outcomes = await self.service.add_images(interaction.user.id, character, uploads, force=force)
        text = "\n".join([header, *_outcome_lines(outcomes)])
        await interaction.followup.send(text[:1990], ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(
        name="create", description="Start a reference set (optionally with its primary image)"
    )
    @app_commands.describe(
        name=f"1–{MAX_NAME_CHARS} characters, unique among your characters", image="The primary image"
    )
    async def create(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, MAX_NAME_CHARS],
        image: discord.Attachment | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        uploads = await self._downloads([image])
        created = await self.service.create(interaction.user.id, name, uploads[0] if uploads else None)
        header = f"Created **{discord.utils.escape_markdown(created.character.name)}**."
        if created.added is None:
            header += " Add 1 primary and 4–8 references with /character add."
        lines = [header, *_outcome_lines([created.added] if created.added else [])]
        await interaction.followup.send("\n".join(lines)[:1990], ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="add", description="Add up to three images to a reference set")
    @app_commands.describe(
        name="Your character",
        image="A clear photo of the face",
        image2="Another",
        image3="Another",
        force="Add even if it looks like a different person",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        name: str,
        image: discord.Attachment,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        force: bool = False,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        character = await self._resolve(interaction, name)
        uploads = await self._downloads([image, image2, image3])
        header = f"**{discord.utils.escape_markdown(character.name)}**:"
        await self._add_and_report(interaction, character, uploads, force, header)

    @app_commands.command(name="list", description="Your characters")
    async def list_(self, interaction: discord.Interaction) -> None:
        characters = await self.repo.list(interaction.user.id)
        if not characters:
            await tell(interaction, "you have no characters yet: /character create")
            return
        lines = [
            f"• **{discord.utils.escape_markdown(c.name)}**: {c.image_count} image(s)" for c in characters
        ]
        await tell(interaction, "\n".join(lines))

    @app_commands.command(name="show", description="A contact sheet of a set, with each image's consistency")
    async def show(self, interaction: discord.Interaction, name: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        character = await self._resolve(interaction, name)
        refs = await self.repo.references(interaction.user.id, character.id)
        if not refs:
            await interaction.followup.send(
                f"{character.name} has no images yet: /character add",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        scores = self.service.scores(refs)
        items = [
            SheetItem(
                await asyncio.to_thread(self.bot.services.media.read, s.ref.media, s.ref.ext),
                s.ref.number,
                s.ref.is_primary,
                len(s.ref.warnings),
                s.score,
                s.outlier,
            )
            for s in scores
        ]
        sheet = await asyncio.to_thread(render_contact_sheet, items)
        lines = [
            f"**{discord.utils.escape_markdown(character.name)}**: {len(refs)} image(s); "
            "numbers are what promote and prune take."
        ]
        for s in scores:
            score = f"similarity to the rest {s.score:.2f}" if s.score is not None else "no comparison yet"
            lines.append(
                f"#{s.ref.number}{' (primary)' if s.ref.is_primary else ''}: {score}"
                + "".join(f"; {w}" for w in s.ref.warnings[:2])
            )
        outliers = [s.ref.number for s in scores if s.outlier]
        if outliers:
            lines.append(
                "Suggest pruning: "
                + ", ".join(f"#{n}" for n in outliers)
                + " (looks like someone else than the rest)"
            )
        elif len(refs) > self.service.rules.soft_max_refs + 1:
            weakest = min(
                (s for s in scores if s.score is not None), key=lambda s: s.score or 0, default=None
            )
            if weakest is not None:
                lines.append(f"The set is large; the weakest match is #{weakest.ref.number}.")
        await interaction.followup.send(
            "\n".join(lines)[:1990],
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
            file=discord.File(io.BytesIO(sheet), filename="contact-sheet.png"),
        )

    @app_commands.command(name="promote", description="Make image N the primary")
    async def promote(
        self,
        interaction: discord.Interaction,
        name: str,
        number: app_commands.Range[int, 1, DEFAULT_MAX_IMAGES],
    ) -> None:
        character, _ = await self.service.promote(interaction.user.id, name, number)
        await tell(
            interaction,
            f"image #{number} is now the primary of {character.name}; the old primary took number {number}",
        )

    @app_commands.command(name="prune", description="Remove image N from a set")
    async def prune(
        self,
        interaction: discord.Interaction,
        name: str,
        number: app_commands.Range[int, 1, DEFAULT_MAX_IMAGES],
    ) -> None:
        character, removed = await self.service.prune(interaction.user.id, name, number)
        extra = " The next image became the primary." if removed.is_primary else ""
        await tell(
            interaction, f"removed image #{number} from {character.name}; later images moved up.{extra}"
        )

    @app_commands.command(name="rename", description="Rename a character")
    async def rename(
        self,
        interaction: discord.Interaction,
        name: str,
        new_name: app_commands.Range[str, 1, MAX_NAME_CHARS],
    ) -> None:
        before, after = await self.service.rename(interaction.user.id, name, new_name)
        await tell(interaction, f"renamed {before.name} to {after.name}")

    @app_commands.command(name="delete", description="Delete a character, its images and embeddings")
    async def delete(self, interaction: discord.Interaction, name: str) -> None:
        character = await self._resolve(interaction, name)
        view = Confirm(interaction.user.id, f"Delete {character.name}"[:80])
        await interaction.response.send_message(
            f"Delete **{discord.utils.escape_markdown(character.name)}** and its {character.image_count} "
            "image(s) and face embeddings? This cannot be undone.",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        if await view.wait() or not view.confirmed:
            return
        _, deleted = await self.service.delete(interaction.user.id, character.name)
        await interaction.edit_original_response(
            content=f"Deleted {character.name}: {deleted.images} image(s), {deleted.files} file(s)."
        )

    @add.autocomplete("name")
    @show.autocomplete("name")
    @promote.autocomplete("name")
    @prune.autocomplete("name")
    @rename.autocomplete("name")
    @delete.autocomplete("name")
    async def name_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        found = await self.repo.search(interaction.user.id, current)
        return [app_commands.Choice(name=c.name, value=c.name) for c in found][:25]


class ForgetMe(commands.Cog):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="forget-me", description="Delete all your characters, images, embeddings and jobs"
    )
    async def forget_me(self, interaction: discord.Interaction) -> None:
        view = Confirm(interaction.user.id, "Delete everything")
        await interaction.response.send_message(
            "Delete all your characters, reference images, face embeddings, jobs and outputs? Queued jobs "
            "are cancelled. This cannot be undone.",
            view=view,
            ephemeral=True,
        )
        if await view.wait() or not view.confirmed:
            return
        forgotten = await self.bot.services.forget(interaction.user.id)
        report, posted = forgotten.report, list(forgotten.messages)
        removed, kept = await self._remove_messages(posted)
        text = (
            f"Deleted {report.characters} character(s), {report.images} reference image(s) with "
            f"face embeddings, {report.jobs} job(s), {report.outputs} output(s) and {report.files} "
            f"file(s), and removed {removed} posted message(s)."
        )
        if kept:
            text += f" {kept} message(s) could not be removed: delete them by hand or ask a moderator."
        await interaction.edit_original_response(content=text)

    async def _remove_messages(self, messages: list[tuple[int, int]]) -> tuple[int, int]:
        """Delete the bot's messages of the forgotten jobs (best effort): (removed, could not be removed).
        One already gone counts as neither."""
        removed = kept = 0
        for channel_id, message_id in messages:
            message = self.bot.get_partial_messageable(channel_id).get_partial_message(message_id)
            try:
                await message.delete()
            except discord.NotFound:
                continue
            except discord.HTTPException as exc:
                log.warning("could not delete message %d in channel %d: %s", message_id, channel_id, exc)
                kept += 1
            else:
                removed += 1
        return removed, kept


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(Characters(bot))
    await bot.add_cog(ForgetMe(bot))
