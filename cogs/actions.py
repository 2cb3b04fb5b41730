"""What each result button does; ownership and state always come from the database."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import discord

from bot.client import LikenessBot
from bot.errors import LikenessError, NotAllowed
from bot.jobs import Mode
from bot.requests import request_from_row
from bot.validation import validate_request
from cogs.confirm import Confirm
from cogs.replies import tell
from cogs.submit import defer_public, enqueue
from cogs.texts import cancel_text, info_text
from storage import JobOrigin, JobRow, JobStatus

log = logging.getLogger(__name__)

VARY_STRENGTH = 0.3  # "nearby variation": keep the composition, let details move
FIX_FACE_STRENGTH = 0.6  # enough to redraw a face that slipped; the mask keeps everything else


async def handle_button(
    bot: LikenessBot, interaction: discord.Interaction, action: str, job_id: int, idx: int | None
) -> None:
    jobs = bot.services.jobs
    job = await jobs.get(job_id)
    if job is None:
        await tell(interaction, f"job {job_id} no longer exists (deleted or past the history window)")
        return
    try:
        if action == "info":
            name = await _own_character(bot, interaction, job)
            await tell(interaction, info_text(job, await jobs.outputs(job_id), name))
        elif action == "delete":
            await _delete(bot, interaction, job)
        elif action == "cancel":
            await _cancel(bot, interaction, job)
        elif action == "fixface":
            await _fix_face(bot, interaction, job, idx)
        elif action == "addref":
            await _add_reference(bot, interaction, job, idx)
        elif action in ("reroll", "vary"):
            await _again(bot, interaction, job, action, idx)
    except LikenessError as exc:
        await tell(interaction, str(exc), replace_original=True)


async def _delete(bot: LikenessBot, interaction: discord.Interaction, job: JobRow) -> None:
    if interaction.user.id != job.user_id:
        await tell(interaction, "only the person who made this job can delete it")
        return
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        await tell(interaction, "this job is still in the queue: cancel it first")
        return
    await bot.services.jobs.delete_job(job.id, interaction.user.id)
    await interaction.response.edit_message(
        content=f"Job {job.id} was deleted by its owner.", embed=None, attachments=[], view=None
    )


async def _cancel(bot: LikenessBot, interaction: discord.Interaction, job: JobRow) -> None:
    result = await bot.services.queue.cancel(job.id, interaction.user.id)
    await tell(interaction, cancel_text(result.outcome, job.id))


async def _again(
    bot: LikenessBot, interaction: discord.Interaction, job: JobRow, action: str, idx: int | None
) -> None:
    """Reroll: same parameters, new seed. Vary: one output becomes the source at low strength.

    A reroll reuses the job's inputs, so another user may reroll only a job made from the prompt alone:
    the owner's uploaded image, mask and character stay theirs (and their Delete or /forget-me is not
    undone by someone else's copy). Vary starts from the posted output, so anyone may use it; another
    user's variation of a face-locked job runs without the owner's character.
    """
    jobs = bot.services.jobs
    owner = interaction.user.id == job.user_id
    if action == "reroll" and not owner:
        private = _private_input(job)
        if private is not None:
            raise NotAllowed(
                f"this job used someone else's {private}, so only they can reroll it: "
                "use Vary on one of its outputs instead"
            )
    character_id = job.character_id if owner else None
    message_id = await defer_public(interaction)
    base = request_from_row(job, None, None)
    if action == "vary":
        outputs = await jobs.outputs(job.id)
        chosen = next((o for o in outputs if o.idx == idx), None)
        if chosen is None:
            raise LikenessError("that output is gone (deleted or past the history window)")
        image = await _media(bot, chosen.media)
        mask = None
        base = replace(base, mode=Mode.IMG2IMG, strength=VARY_STRENGTH, expand=None, candidates=1)
        if character_id is None:  # no face lock: its settings go with the character
            base = replace(base, min_identity=None)
    else:
        image = await _media(bot, job.input_media)
        mask = await _media(bot, job.mask_media)
    request = validate_request(
        replace(base, seed=None),
        has_image=image is not None,
        has_mask=mask is not None,
        has_identity=character_id is not None,
    )
    await enqueue(
        bot,
        interaction,
        request,
        message_id=message_id,
        image=image,
        mask=mask,
        origin=JobOrigin.REROLL if action == "reroll" else JobOrigin.VARY,
        parent_job_id=job.id,
        character_id=character_id,
    )


def _private_input(job: JobRow) -> str | None:
    """What of the owner's a reroll would reuse: a character (even one deleted since), or an uploaded
    image or mask. None for a job made from the prompt alone."""
    if job.character_id is not None or job.identity_weight is not None:
        return "character"
    if job.input_media is not None or job.mask_media is not None:
        return "image"
    return None


async def _own_character(bot: LikenessBot, interaction: discord.Interaction, job: JobRow) -> str | None:
    """The job's character name, for its owner only (another user learns nothing of it)."""
    if job.character_id is None or interaction.user.id != job.user_id:
        return None
    character = await bot.services.characters.repo.get(job.user_id, job.character_id)
    return character.name if character is not None else None


async def _media(bot: LikenessBot, sha: str | None) -> tuple[bytes, str] | None:
    if sha is None:
        return None
    path = await bot.services.jobs.media_path(sha)
    if path is None or not path.exists():
        raise LikenessError("the source image of this job is gone (past the history window)")
    return await asyncio.to_thread(path.read_bytes), path.suffix.lstrip(".") or "png"


async def _add_reference(
    bot: LikenessBot, interaction: discord.Interaction, job: JobRow, idx: int | None
) -> None:
    """Owner only, after a confirmation; the output goes through the same checks as any upload."""
    if interaction.user.id != job.user_id or job.character_id is None:
        await tell(interaction, "only the owner of this character can add images to it")
        return
    service = bot.services.characters
    character = await service.repo.get(job.user_id, job.character_id)
    chosen = next((o for o in await bot.services.jobs.outputs(job.id) if o.idx == idx), None)
    if character is None or chosen is None:
        await tell(interaction, "that character or output no longer exists")
        return
    view = Confirm(interaction.user.id, f"Add to {character.name}"[:80])
    await interaction.response.send_message(
        f"Add output {chosen.idx + 1} (seed {chosen.seed}) to "
        f"**{discord.utils.escape_markdown(character.name)}** "
        "as a reference? It changes future face-locked generations.",
        view=view,
        ephemeral=True,
        allowed_mentions=discord.AllowedMentions.none(),
    )
    if await view.wait() or not view.confirmed:
        return
    data = await asyncio.to_thread(bot.services.media.read, chosen.media, chosen.ext)
    [outcome] = await service.add_images(
        job.user_id, character, [(f"job {job.id} output {chosen.idx + 1}", data)]
    )
    text = (
        f"refused: {outcome.error}"
        if outcome.error
        else f"added as #{outcome.number}" + "".join(f"\n⚠ {w}" for w in outcome.warnings)
    )
    await interaction.edit_original_response(
        content=f"Output {chosen.idx + 1} → {character.name}: {text}"[:1990]
    )


async def _fix_face(bot: LikenessBot, interaction: discord.Interaction, job: JobRow, idx: int | None) -> None:
    """Inpaint the detected face of one output with face lock; the rest of the picture stays."""
    if interaction.user.id != job.user_id or job.character_id is None:
        raise NotAllowed("this job used someone else's character")
    chosen = next((o for o in await bot.services.jobs.outputs(job.id) if o.idx == idx), None)
    if chosen is None:
        raise LikenessError("that output is gone (deleted or past the history window)")
    await bot.services.queue.check_room(interaction.user.id)  # before the face analysis, not after it
    message_id = await defer_public(interaction)
    data = await asyncio.to_thread(bot.services.media.read, chosen.media, chosen.ext)
    mask = await bot.services.characters.face_mask(interaction.user.id, data)
    base = replace(
        request_from_row(job, None, None),
        mode=Mode.INPAINT,
        strength=FIX_FACE_STRENGTH,
        expand=None,
        candidates=1,
        seed=None,
    )
    request = validate_request(base, has_image=True, has_mask=True, has_identity=True)
    await enqueue(
        bot,
        interaction,
        request,
        message_id=message_id,
        image=(data, chosen.ext),
        mask=(mask, "png"),
        origin=JobOrigin.FIX_FACE,
        parent_job_id=job.id,
        character_id=job.character_id,
    )
