"""The NSFW policy on Discord: where a message goes (``bot.nsfw_policy``'s places), and which of a
job's outputs may be shown there. The result message, its per-output buttons and Info all ask this,
so a withheld image is left out everywhere alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import discord

from bot.app.client import LikenessBot
from bot.nsfw_policy import DirectMessage, GuildChannel, NsfwPolicy, Place, decide, withheld_note
from bot.running.queue import Job
from storage import OutputRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Shown:
    """A job's outputs split for one place: those posted, and a note on those withheld ("" if none)."""

    posted: list[OutputRow]
    withheld: list[OutputRow]
    note: str = ""


def place_of_channel(channel: object, guild_id: int | None) -> Place:
    """A server's channel (age-restricted when Discord says so: a thread follows its parent), or a DM."""
    if guild_id is None:
        return DirectMessage()
    is_nsfw = getattr(channel, "is_nsfw", None)
    return GuildChannel(bool(is_nsfw()) if callable(is_nsfw) else False)


async def place_of_job(bot: LikenessBot, job: Job) -> Place:
    """Where the job's result goes, as Discord says now (a channel made age-restricted since counts).
    A channel that cannot be read counts as not age-restricted: nothing flagged is risked."""
    if job.guild_id is None:
        return DirectMessage()
    channel: object = bot.get_channel(job.channel_id) if job.channel_id is not None else None
    if channel is None and job.channel_id is not None:
        try:
            channel = await bot.fetch_channel(job.channel_id)
        except discord.HTTPException as exc:
            log.warning("job %d: channel %s unreadable (%s): not age-restricted", job.id, job.channel_id, exc)
    return place_of_channel(channel, job.guild_id)


async def policy_for(bot: LikenessBot, guild_id: int | None) -> NsfwPolicy:
    """The NSFW policy for a server's channels (or DMs): the bot-wide one, narrowed by the server's
    ``nsfw`` setting (read each time, so a change applies to the next result and button)."""
    server = await bot.services.guilds.nsfw_policy(guild_id)
    return bot.services.nsfw if server is None else bot.services.nsfw.for_server(server)


def split(outputs: list[OutputRow], place: Place, policy: NsfwPolicy) -> Shown:
    posted, withheld, reasons = [], [], []
    for output in outputs:
        decision = decide(policy.flagged(output.nsfw), place, policy)
        if decision.post:
            posted.append(output)
        else:
            withheld.append(output)
            reasons.append(decision.reason or "")
    note = withheld_note(len(withheld), len(outputs), reasons[0]) if withheld else ""
    return Shown(posted, withheld, note)


async def shown_for_job(bot: LikenessBot, job: Job, outputs: list[OutputRow]) -> Shown:
    return split(outputs, await place_of_job(bot, job), await policy_for(bot, job.guild_id))


async def shown_for_interaction(
    bot: LikenessBot, interaction: discord.Interaction, outputs: list[OutputRow]
) -> Shown:
    """The outputs as the channel a button was clicked in may show them."""
    place = place_of_channel(interaction.channel, interaction.guild_id)
    return split(outputs, place, await policy_for(bot, interaction.guild_id))
