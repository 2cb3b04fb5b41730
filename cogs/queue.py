"""``/queue`` (your jobs and their positions) and ``/cancel`` (your queued or running job)."""

from __future__ import annotations

from datetime import UTC, datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.client import LikenessBot
from bot.running.faults import Health
from bot.running.runners import WorkerState
from cogs.utils.replies import tell
from cogs.utils.texts import cancel_text, duration, prompt_text
from storage import ACTIVE_STATUSES


class Queue(commands.Cog):
    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot

    @app_commands.command(name="queue", description="Your jobs, their places in the queue and the wait")
    async def queue(self, interaction: discord.Interaction) -> None:
        status = await self.bot.services.queue.status()
        mine = status.mine(interaction.user.id)
        lines = [] if status.health is None else [down_text(status.health)]
        lines.append(
            f"Queue: {status.length} job{'s' if status.length != 1 else ''}, "
            f"about {duration(status.seconds_per_job)} each recently."
        )
        lines.extend(workers_text(status.workers))
        if not mine:
            lines.append("You have no jobs waiting.")
        for entry in mine:
            if entry.position == 0:
                lines.append(f"• job {entry.job_id}: running now")
            else:
                lines.append(
                    f"• job {entry.job_id}: position {entry.position} of {status.length}, "
                    f"starts in about {duration(status.wait_seconds(entry))}"
                )
        left = await self.bot.services.guilds.quota_left(interaction.user.id, interaction.guild_id)
        if left is not None:
            lines.append(f"Today you have {left[0]} of {left[1]} jobs left (the day resets at 00:00 UTC).")
        await tell(interaction, "\n".join(lines))

    @app_commands.command(name="cancel", description="Cancel your queued or running job")
    @app_commands.describe(job="Job number (default: your most recent waiting job)")
    async def cancel(self, interaction: discord.Interaction, job: int | None = None) -> None:
        user = interaction.user.id
        if job is None:
            active = await self.bot.services.jobs.user_jobs(user, ACTIVE_STATUSES, limit=1)
            if not active:
                await tell(interaction, "you have no queued or running jobs")
                return
            job = active[0].id
        result = await self.bot.services.job_actions.cancel(job, user)
        await tell(interaction, cancel_text(result.outcome, job))

    @cancel.autocomplete("job")
    async def cancel_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        active = await self.bot.services.jobs.user_jobs(interaction.user.id, ACTIVE_STATUSES, limit=25)
        return [
            app_commands.Choice(name=f"{j.id}: {j.status.value}, {prompt_text(j.params)}"[:100], value=j.id)
            for j in active
            if current in str(j.id) or current.lower() in prompt_text(j.params).lower()
        ][:25]


def workers_text(workers: tuple[WorkerState, ...]) -> list[str]:
    """Several GPU workers: how many take jobs, and why any does not. One healthy worker: nothing."""
    if len(workers) <= 1 and all(w.ready for w in workers):
        return []
    ready = sum(w.ready for w in workers)
    busy = sum(w.busy for w in workers)
    lines = [f"GPU workers: {ready} of {len(workers)} ready, {busy} busy."]
    lines += [f"• {w.name}: {w.error or 'not ready'}" for w in workers if not w.ready]
    return lines


def down_text(health: Health) -> str:
    since = health.since.astimezone(UTC)
    when = since.strftime("%H:%M UTC" if since.date() == datetime.now(UTC).date() else "%Y-%m-%d %H:%M UTC")
    return (
        f"The GPU worker is down since {when} ({health.reason}); "
        "your jobs stay queued and run when it is back."
    )


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(Queue(bot))
