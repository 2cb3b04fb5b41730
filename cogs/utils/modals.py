"""Edit prompt's form: a Discord modal with the job's prompt, negative and seed filled in.

The form is never kept in memory. ``edit_form`` builds it stopped, so discord.py does not store it;
every submission, before a restart or days after one, reaches ``on_edit_form`` by its ``custom_id``
(``lk:editform:<job>``) and is checked then as any button is: the job is read from the database,
who may edit it is Reroll's rule (``Submissions.rerunnable``), and the server's bans, limits and
quotas apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import discord

from bot.actions.submissions import EditedText
from bot.app.client import LikenessBot
from bot.errors import InvalidRequest
from bot.params import MAX_PROMPT_CHARS, SEED_MAX
from bot.running.queue import Job
from cogs.utils.interactions import defer_public, destination_of
from cogs.utils.replies import tell_error

EDIT_FORM = re.compile(r"lk:editform:(?P<job>\d+)")
FIELDS = ("prompt", "negative", "seed")  # the text inputs' custom ids


def edit_form(job: Job) -> discord.ui.Modal:
    """The form for ``job``, filled in with what it ran with (stopped: see the module)."""
    params = job.params
    form = discord.ui.Modal(title=f"Edit prompt: job {job.id}", custom_id=f"lk:editform:{job.id}")
    seed = "" if params.seed is None else str(params.seed)
    inputs = (
        ("Prompt", "What to make; every other setting stays as it was", params.prompt, True),
        ("Negative prompt", "What to avoid; empty for nothing", params.negative, True),
        ("Seed", "Keep it for the same composition; clear it for a new one", seed, False),
    )
    for (label, help_text, value, long), custom_id in zip(inputs, FIELDS, strict=True):
        text: discord.ui.TextInput[Any] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph if long else discord.TextStyle.short,
            custom_id=custom_id,
            default=value or None,
            required=False,
            max_length=MAX_PROMPT_CHARS if long else len(str(SEED_MAX)),
        )
        form.add_item(discord.ui.Label(text=label, description=help_text, component=text))
    form.stop()
    return form


def edited_text(data: Mapping[str, Any]) -> EditedText:
    """The submitted values (a MODAL_SUBMIT's ``data``); a seed that is not one is refused by name."""
    values = dict(_values(data.get("components") or []))
    seed_text = values.get("seed", "").strip()
    seed = None
    if seed_text:
        if not seed_text.isdecimal() or int(seed_text) > SEED_MAX:
            raise InvalidRequest(
                f"the seed “{seed_text[:20]}” is not a whole number from 0 to {SEED_MAX}: "
                "keep the job's seed, write another, or leave it empty for a new one"
            )
        seed = int(seed_text)
    return EditedText(values.get("prompt", "").strip(), values.get("negative", "").strip(), seed)


def _values(components: list[Any]) -> Iterator[tuple[str, str]]:
    """(custom_id, value) of every text input, in action rows (type 1) or labels (type 18)."""
    for component in components:
        if component.get("type") == 1:
            yield from _values(component.get("components") or [])
        elif component.get("type") == 18 and isinstance(component.get("component"), dict):
            yield from _values([component["component"]])
        elif component.get("custom_id") in FIELDS:
            yield component["custom_id"], str(component.get("value") or "")


async def on_edit_form(interaction: discord.Interaction) -> None:
    """Queue the edited job (a listener on every interaction: it answers only Edit prompt's forms)."""
    if interaction.type is not discord.InteractionType.modal_submit or interaction.data is None:
        return
    match = EDIT_FORM.fullmatch(str(interaction.data.get("custom_id", "")))
    if match is None:
        return
    bot = interaction.client
    assert isinstance(bot, LikenessBot)
    job_id = int(match["job"])
    try:
        text = edited_text(interaction.data)
        draft = await bot.services.submissions.edit(job_id, interaction.user.id, text, interaction.guild_id)
        message_id = await defer_public(interaction)
        await bot.services.submissions.submit(draft, destination_of(interaction, message_id))
    except Exception as exc:
        await tell_error(interaction, exc, action=f"edit form of job {job_id}")
