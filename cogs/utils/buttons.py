"""Buttons that survive restarts: one ``DynamicItem`` class per action, its ``custom_id`` the job id.

State is read from the database on every click, never kept in memory, so a button works days later
and after any number of restarts. ``JobButton`` does what every action shares, the same way for all:
it parses the job id (and output number), loads the job, refuses anyone but the owner where the
action is the owner's alone, and answers every error privately, an unexpected one included (instead
of Discord's "This interaction failed"). Each action is one small subclass, as in discord.py's
``dynamic_counter`` example; the ids are unchanged from older versions, so old messages keep working.
"""

from __future__ import annotations

import asyncio
import io
import re
import types
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import discord

from bot.actions.submissions import Draft
from bot.app.client import LikenessBot
from bot.errors import Gone, NotAllowed
from bot.reframe import REFRAMES, Reframe
from bot.running.queue import Job
from cogs.utils.confirm import Confirm
from cogs.utils.interactions import defer_public, destination_of
from cogs.utils.modals import edit_form
from cogs.utils.nsfw import shown_for_interaction
from cogs.utils.replies import tell, tell_error
from cogs.utils.texts import cancel_text, info_text

NOT_THE_CHARACTERS_OWNER = "only the owner of this character can add images to it"


class JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"lk:[a-z]+:\d+(?::\d)?"):
    """Base of the job buttons; a subclass names its ``action`` (and ``per_output``: one per image)."""

    action: ClassVar[str]
    per_output: ClassVar[bool]
    label: ClassVar[str]  # "{n}" is the output's number
    style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary
    owner_only: ClassVar[str | None] = None  # the refusal for anyone but the job's owner

    registered: ClassVar[list[type[JobButton]]] = []  # every action, for ``bot.add_dynamic_items``

    def __init_subclass__(cls, *, action: str, per_output: bool = False, **kwargs: Any) -> None:
        template = rf"lk:{action}:(?P<job>\d+)" + (r":(?P<idx>\d)" if per_output else "")
        super().__init_subclass__(template=template, **kwargs)
        cls.action, cls.per_output = action, per_output
        if any(b.action == action for b in JobButton.registered):
            raise TypeError(f"two buttons for the action {action!r}")
        JobButton.registered.append(cls)

    def __init__(self, job_id: int, idx: int | None = None, *, row: int | None = None) -> None:
        custom_id = f"lk:{self.action}:{job_id}" + (f":{idx}" if idx is not None else "")
        label = self.label.format(n=(idx or 0) + 1)
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id, style=self.style), row=row)
        self.job_id, self.idx = job_id, idx

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> JobButton:
        idx = match.groupdict().get("idx")
        return cls(int(match["job"]), int(idx) if idx is not None else None)

    @property
    def output(self) -> int:
        assert self.idx is not None, "only per-output buttons have an output"
        return self.idx

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        assert isinstance(bot, LikenessBot)
        try:
            job = await bot.services.jobs.get(self.job_id)
            await bot.services.guilds.check_member(interaction.user.id, interaction.guild_id)
            if job is None:
                raise Gone(f"job {self.job_id} no longer exists (deleted or past the history window)")
            if self.owner_only is not None and interaction.user.id != job.user_id:
                raise NotAllowed(self.owner_only.format(job=job.id))
            await self.run(bot, interaction, job)
        except Exception as exc:
            await tell_error(interaction, exc, action=f"button {self.action} of job {self.job_id}")

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        raise NotImplementedError

    async def check_shown(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        """A per-output action works only on an output this channel may show: a withheld one is
        nobody's to vary, repair or keep here (its button was never posted, but ids can be made)."""
        shown = await shown_for_interaction(bot, interaction, await bot.services.jobs.outputs(job.id))
        if any(o.idx == self.output for o in shown.withheld):
            raise NotAllowed(f"output {self.output + 1} of job {job.id} is withheld here: flagged NSFW")


async def _queue(bot: LikenessBot, interaction: discord.Interaction, draft: Draft) -> None:
    """A checked derived job: acknowledge publicly, then queue it (its message follows the job)."""
    message_id = await defer_public(interaction)
    await bot.services.submissions.submit(draft, destination_of(interaction, message_id))


class Reroll(JobButton, action="reroll"):
    label = "Reroll"
    style = discord.ButtonStyle.primary

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        draft = await bot.services.submissions.reroll(job.id, interaction.user.id, interaction.guild_id)
        await _queue(bot, interaction, draft)


class EditPrompt(JobButton, action="edit"):
    """A form with the prompt and negative filled in; its submission queues the job again with the
    new text (``cogs.utils.modals``). Refused before the form opens for whoever may not reroll."""

    label = "Edit prompt"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        await bot.services.submissions.rerunnable(job.id, interaction.user.id, "edit")
        await interaction.response.send_modal(edit_form(job))


class Vary(JobButton, action="vary", per_output=True):
    label = "Vary {n}"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        await self.check_shown(bot, interaction, job)
        draft = await bot.services.submissions.vary(
            job.id, self.output, interaction.user.id, interaction.guild_id
        )
        await _queue(bot, interaction, draft)


class FixFace(JobButton, action="fixface", per_output=True):
    label = "Fix face {n}"
    owner_only = "only the owner of this job's character can fix its faces"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        await self.check_shown(bot, interaction, job)
        draft = await bot.services.submissions.fix_face(
            job.id, self.output, interaction.user.id, interaction.guild_id
        )
        await _queue(bot, interaction, draft)


class Info(JobButton, action="info"):
    label = "Info"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        character = None  # the name is shown to its owner alone: characters are private
        if job.character_id is not None and interaction.user.id == job.user_id:
            row = await bot.services.characters.repo.get(job.user_id, job.character_id)
            character = row.name if row is not None else None
        shown = await shown_for_interaction(bot, interaction, await bot.services.jobs.outputs(job.id))
        await tell(interaction, info_text(job, shown.posted, character, withheld=len(shown.withheld)))


class Delete(JobButton, action="delete"):
    label = "Delete"
    style = discord.ButtonStyle.danger

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        await bot.services.job_actions.delete(job.id, interaction.user.id)
        await interaction.response.edit_message(
            content=f"Job {job.id} was deleted by its owner.", embed=None, attachments=[], view=None
        )


class Cancel(JobButton, action="cancel"):
    label = "Cancel"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        result = await bot.services.job_actions.cancel(job.id, interaction.user.id)
        await tell(interaction, cancel_text(result.outcome, job.id))


class AddReference(JobButton, action="addref", per_output=True):
    label = "Add {n} to character"
    owner_only = NOT_THE_CHARACTERS_OWNER

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        """After a confirmation; the output goes through the same checks as any upload."""
        if job.character_id is None:
            raise NotAllowed(NOT_THE_CHARACTERS_OWNER)
        await self.check_shown(bot, interaction, job)
        service = bot.services.characters
        character = await service.repo.get(job.user_id, job.character_id)
        chosen = next((o for o in await bot.services.jobs.outputs(job.id) if o.idx == self.idx), None)
        if character is None or chosen is None:
            raise Gone("that character or output no longer exists")
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


class UseSuggestion(JobButton, action="use", per_output=True):
    """A /describe prompt on the described image (img2img at the default strength)."""

    label = "Use {n}"
    style = discord.ButtonStyle.primary

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        draft = await bot.services.submissions.use_suggestion(
            job.id, self.output, interaction.user.id, new=False, guild_id=interaction.guild_id
        )
        await _queue(bot, interaction, draft)


class UseSuggestionAsNew(JobButton, action="usenew", per_output=True):
    """A /describe prompt as text to image."""

    label = "Use {n} as new"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        draft = await bot.services.submissions.use_suggestion(
            job.id, self.output, interaction.user.id, new=True, guild_id=interaction.guild_id
        )
        await _queue(bot, interaction, draft)


class ShowStructure(JobButton, action="structure"):
    """The edge or depth map the ControlNet kept, so the user sees what was held fixed; drawn from
    the owner's own upload, it is the owner's alone (``JobActions.check_structure_viewer``)."""

    label = "Show structure"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        sha, params = job.structure_media, job.params
        if sha is None:
            raise Gone(f"job {job.id} kept no structure map")
        await bot.services.job_actions.check_structure_viewer(job, interaction.user.id)
        try:
            data = await asyncio.to_thread(bot.services.media.read, sha, "png")
        except OSError:
            raise Gone(f"the structure map of job {job.id} is gone from the disk") from None
        weight = f"{params.structure_weight:g}" if params.structure_weight is not None else "1"
        await interaction.response.send_message(
            f"The {params.structure} map job {job.id} kept (structure weight {weight}):",
            file=discord.File(io.BytesIO(data), filename=f"job-{job.id}-{params.structure}.png"),
            ephemeral=True,
        )


class ZoomPan(JobButton, action="reframe", per_output=True):
    """Opens the output's zoom and pan buttons privately: six per output do not fit under a result
    (Discord allows five rows of five)."""

    label = "Zoom/pan {n}"

    async def run(self, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        await self.check_shown(bot, interaction, job)
        extras = [button for button, available in PANEL_EXTRAS if available(bot)]
        await interaction.response.send_message(
            f"Zoom out or pan output {self.output + 1} of job {job.id}: each is an outpaint of it.",
            view=reframe_view(job.id, self.output, extras),
            ephemeral=True,
        )


def _reframe_button(reframe: Reframe) -> type[JobButton]:
    """One zoom or pan (``bot.reframe``) as its own button class: an outpaint of the output."""

    async def run(self: JobButton, bot: LikenessBot, interaction: discord.Interaction, job: Job) -> None:
        await self.check_shown(bot, interaction, job)
        draft = await bot.services.submissions.reframe(
            job.id, self.output, reframe.expand, interaction.user.id, interaction.guild_id
        )
        await _queue(bot, interaction, draft)

    def body(namespace: dict[str, Any]) -> None:
        namespace.update(label=reframe.label, run=run, __doc__=f"{reframe.what.capitalize()}.")

    return types.new_class(
        f"Reframe{reframe.action.title()}",
        (JobButton,),
        {"action": reframe.action, "per_output": True},
        body,
    )


REFRAME_BUTTONS: tuple[type[JobButton], ...] = tuple(_reframe_button(r) for r in REFRAMES)


# Per-output buttons the Zoom/pan panel offers too, each with whether the bot can run it now:
# cogs.utils.upscale_buttons adds Upscale, since a face-locked result of 3 or 4 outputs has no row
# left for it under the result.
PANEL_EXTRAS: list[tuple[type[JobButton], Callable[[LikenessBot], bool]]] = []


def reframe_view(job_id: int, idx: int, extras: Sequence[type[JobButton]] = ()) -> discord.ui.View:
    """The zooms on one row, the pans on the next, then ``extras``."""
    view = discord.ui.View(timeout=None)
    for button, reframe in zip(REFRAME_BUTTONS, REFRAMES, strict=True):
        view.add_item(button(job_id, idx, row=0 if reframe.expand.startswith("zoom") else 1))
    for extra in extras:
        view.add_item(extra(job_id, idx, row=2))
    return view


def queued_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(Cancel(job_id))
    return view


def suggestions_view(job_id: int, prompts: int) -> discord.ui.View:
    """Use N and Use N as new under a /describe result, then Delete."""
    view = discord.ui.View(timeout=None)
    for row, button in ((0, UseSuggestion), (1, UseSuggestionAsNew)):
        for idx in range(prompts):
            view.add_item(button(job_id, idx, row=row))
    view.add_item(Delete(job_id, row=2))
    return view


def result_view(
    job_id: int, outputs: Sequence[int], *, character: bool = False, structure: bool = False
) -> discord.ui.View:
    """Reroll, Edit prompt, Info, Delete (and Show structure when a ControlNet kept one); a Vary and
    a Zoom/pan per posted output (``outputs``: their indexes; a withheld one gets none); with face
    lock, Fix face and Add to character per posted output."""
    view = discord.ui.View(timeout=None)
    for button in (Reroll, EditPrompt, Info, Delete, *([ShowStructure] if structure else [])):
        view.add_item(button(job_id))
    rows: list[tuple[int, type[JobButton]]] = [(1, Vary), (2, ZoomPan)]
    if character:  # face lock only: repair a face, chain a winner
        rows += [(3, FixFace), (4, AddReference)]
    for row, per_output in rows:
        for idx in outputs:
            view.add_item(per_output(job_id, idx, row=row))
    return view
