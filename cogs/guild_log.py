"""A server's log channel (``/likeness settings log``): one short line per finished job (the
member, mode, model, prompt and flags, with a thumbnail), per blocklist refusal and per ban.

The log never pings anyone (``AllowedMentions.none()`` on every line, whatever the prompt holds),
never names a character (they are private), and a blocked prompt is not repeated: the line says
which of the two prompts was refused. A line that cannot be posted (the channel was deleted or
its permissions changed) is logged here and dropped; it never holds up the job or the ban.
"""

from __future__ import annotations

import asyncio
import io
import logging

import discord
from discord.ext import commands
from PIL import Image

from bot.actions.guilds import BanDone, ban_until
from bot.app.client import LikenessBot
from bot.jobs import GenerationResult
from bot.running.queue import Job, Ticket
from cogs.utils.texts import prompt_text
from storage import JobStatus

log = logging.getLogger(__name__)

THUMBNAIL = 128  # px on the long side
PROMPT_CHARS = 300
NO_MENTIONS = discord.AllowedMentions.none()


def thumbnail(data: bytes) -> bytes:
    """A small PNG of an output (its parameters chunk is not copied)."""
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB")
        small.thumbnail((THUMBNAIL, THUMBNAIL))
        out = io.BytesIO()
        small.save(out, "PNG")
    return out.getvalue()


def job_line(job: Job, model: str) -> str:
    params = job.params
    flags = []
    if job.origin.value != "command":
        flags.append(job.origin.value.replace("_", " "))
    if params.face is not None:
        flags.append("face lock")
    if params.structure is not None:
        flags.append(f"structure {params.structure}")
    if params.loras:
        flags.append("LoRAs " + ", ".join(use.name for use in params.loras))
    if params.candidates > 1:
        flags.append(f"{params.candidates} candidates")
    if params.describe is not None:
        flags.append("describe")
    outcome = {JobStatus.DONE: "done", JobStatus.FAILED: "failed", JobStatus.CANCELLED: "cancelled"}
    prompt = discord.utils.escape_markdown(prompt_text(params))[:PROMPT_CHARS]
    return (
        f"Job {job.id} by <@{job.user_id}> · {params.mode.value} · model {model} · “{prompt}”"
        + (f" · {', '.join(flags)}" if flags else "")
        + f" · {outcome.get(job.status, job.status.value)}"
    )


class GuildLog(commands.Cog):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.services.queue.listeners.append(self)
        self.bot.services.guilds.listeners.append(self)

    async def cog_unload(self) -> None:
        self.bot.services.queue.listeners.remove(self)
        self.bot.services.guilds.listeners.remove(self)

    # -- the queue's events (only the end of a job is logged) -----------------------------------
    async def job_queued(self, ticket: Ticket) -> None:
        return None

    async def job_started(self, job: Job) -> None:
        return None

    async def job_progress(self, job: Job, step: int, total: int) -> None:
        return None

    async def job_finished(self, job: Job, result: GenerationResult | None) -> None:
        if job.guild_id is None:  # the API, DMs: no server's log
            return
        model = job.params.model or self.bot.services.runner.models.default
        files = []
        if job.status is JobStatus.DONE:
            outputs = await self.bot.services.jobs.outputs(job.id)
            if outputs:
                data = await asyncio.to_thread(self.bot.services.media.read, outputs[0].media, outputs[0].ext)
                small = await asyncio.to_thread(thumbnail, data)
                files.append(discord.File(io.BytesIO(small), filename=f"job-{job.id}.png"))
        await self._post(job.guild_id, job_line(job, model), files)

    # -- the server's own events ----------------------------------------------------------------
    async def blocked(self, guild_id: int, user_id: int, what: str) -> None:
        await self._post(guild_id, f"The blocklist refused a {what} by <@{user_id}>.")

    async def banned(self, guild_id: int, done: BanDone) -> None:
        ban = done.ban
        where = "everywhere (the owner's ban)" if ban.everywhere else "in this server"
        until = ban_until(ban)
        reason = f": {discord.utils.escape_markdown(ban.reason)}" if ban.reason else ""
        jobs = f"; {len(done.cancelled)} queued job(s) cancelled" if done.cancelled else ""
        await self._post(
            guild_id, f"<@{ban.banned_by}> banned <@{ban.user_id}> {where}{until}{reason}{jobs}."
        )

    async def unbanned(self, guild_id: int, user_id: int, by: int, everywhere: bool) -> None:
        where = " everywhere" if everywhere else ""
        await self._post(guild_id, f"<@{by}> lifted the ban on <@{user_id}>{where}.")

    async def _post(self, guild_id: int, text: str, files: list[discord.File] | None = None) -> None:
        policy = await self.bot.services.guilds.policy_here(guild_id)
        if policy.log_channel is None:
            return
        channel = self.bot.get_channel(policy.log_channel)
        if not isinstance(channel, discord.TextChannel) or channel.guild.id != guild_id:
            log.warning(
                "guild %d: its log channel %d is gone; a line was dropped", guild_id, policy.log_channel
            )
            return
        try:
            await channel.send(text[:2000], files=files or [], allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("guild %d: could not post in its log channel (%s); a line was dropped", guild_id, exc)


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(GuildLog(bot))
