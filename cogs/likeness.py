"""``/likeness``: a community server's own rules, for members with Manage Server. Settings (show,
set, reset one by one, the blocklist, the log channel), bans (ban, unban, bans) and stats, answered
privately; ``bot.actions.guilds`` checks and stores them.

Discord's default permissions hide the group from members without Manage Server, but a server can
change those in its integration settings, so the bot checks the member's own permissions
(``interaction.permissions``, Discord's answer for this member in this channel) on every command.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.actions.guilds import MAX_BAN_DAYS, MAX_REASON
from bot.actions.stats import MAX_STATS_DAYS, server_stats
from bot.app.client import LikenessBot
from bot.errors import InvalidRequest, NotAllowed
from bot.guilds.declared import SETTINGS, TYPED
from cogs.utils.replies import tell

_TYPED = [app_commands.Choice(name=name, value=name) for name in TYPED]
_ALL = [app_commands.Choice(name=name, value=name) for name in SETTINGS]


def _manager(interaction: discord.Interaction) -> int:
    """The server's id, once the member has Manage Server there (``NotAllowed`` otherwise)."""
    if interaction.guild_id is None:
        raise NotAllowed("/likeness is for servers: use it in one")
    perms = interaction.permissions
    if not (perms.manage_guild or perms.administrator):
        raise NotAllowed("only members with the Manage Server permission can use /likeness")
    return interaction.guild_id


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class LikenessCommands(
    commands.GroupCog, group_name="likeness", group_description="This server's rules for the bot"
):
    settings = app_commands.Group(name="settings", description="This server's defaults and limits")
    blocklist = app_commands.Group(name="blocklist", description="Words and patterns refused in prompts")

    def __init__(self, bot: LikenessBot) -> None:
        self.bot = bot
        super().__init__()

    @settings.command(name="show", description="Every setting of this server, with its value")
    async def show(self, interaction: discord.Interaction) -> None:
        guild_id = _manager(interaction)
        values = await self.bot.services.guilds.values(guild_id)
        lines = ["This server's settings (not set: the bot's own):"]
        for name, setting in SETTINGS.items():
            lines.append(
                f"• `{name}`: {discord.utils.escape_markdown(setting.show(values[name]))} — {setting.help}"
            )
        await tell(interaction, "\n".join(lines))

    @settings.command(name="set", description="Change one setting (reset puts back the bot's own)")
    @app_commands.describe(name="The setting", value="Its new value (on/off, a number, a name, a comma list)")
    @app_commands.choices(name=_TYPED)
    async def set_(
        self, interaction: discord.Interaction, name: str, value: app_commands.Range[str, 1, 1000]
    ) -> None:
        guild_id = _manager(interaction)
        stored = await self.bot.services.guilds.set(guild_id, name, value, interaction.user.id)
        await tell(interaction, f"`{name}` is now {SETTINGS[name].show(stored)}")

    @settings.command(name="reset", description="Put one setting back to the bot's own")
    @app_commands.choices(name=_ALL)
    async def reset(self, interaction: discord.Interaction, name: str) -> None:
        guild_id = _manager(interaction)
        changed = await self.bot.services.guilds.reset(guild_id, name, interaction.user.id)
        await tell(interaction, f"`{name}` is back to the bot's own" if changed else f"`{name}` was not set")

    @settings.command(name="log", description="The channel where jobs, refusals and bans are logged")
    async def log_channel(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        guild_id = _manager(interaction)
        guild = interaction.guild
        target = guild.get_channel(channel.id) if guild is not None else None
        me = guild.me if guild is not None else None
        if target is None or me is None:
            raise InvalidRequest(f"the bot cannot see <#{channel.id}>: give it access to the channel first")
        perms = target.permissions_for(me)
        missing = [
            label
            for label, ok in (
                ("View Channel", perms.view_channel),
                ("Send Messages", perms.send_messages),
                ("Attach Files", perms.attach_files),
            )
            if not ok
        ]
        if missing:
            raise InvalidRequest(
                f"the bot cannot post in <#{channel.id}> (it lacks {', '.join(missing)}): "
                "allow that in the channel's permissions, then set it again"
            )
        await self.bot.services.guilds.set_log_channel(guild_id, channel.id, interaction.user.id)
        await tell(interaction, f"jobs, refusals and bans are now logged in <#{channel.id}>")

    @blocklist.command(name="add", description="Refuse prompts holding a word, or a /regular expression/")
    async def block(self, interaction: discord.Interaction, entry: app_commands.Range[str, 1, 200]) -> None:
        guild_id = _manager(interaction)
        count = await self.bot.services.guilds.block(guild_id, entry, interaction.user.id)
        await tell(interaction, f"added: the blocklist holds {count} entr{'y' if count == 1 else 'ies'}")

    @blocklist.command(name="remove", description="Take an entry off the blocklist")
    async def unblock(self, interaction: discord.Interaction, entry: app_commands.Range[str, 1, 200]) -> None:
        guild_id = _manager(interaction)
        count = await self.bot.services.guilds.unblock(guild_id, entry, interaction.user.id)
        await tell(interaction, f"removed: the blocklist holds {count} entr{'y' if count == 1 else 'ies'}")

    @app_commands.command(name="ban", description="Stop a member from using the bot in this server")
    @app_commands.describe(
        member="Who",
        reason="Shown to them",
        days="How long (default: until unbanned)",
        everywhere="Every server and their API keys (the bot's owner only)",
    )
    async def ban(
        self,
        interaction: discord.Interaction,
        member: discord.User,
        reason: app_commands.Range[str, 0, MAX_REASON] = "",
        days: app_commands.Range[int, 1, MAX_BAN_DAYS] | None = None,
        everywhere: bool = False,
    ) -> None:
        guild_id = _manager(interaction)
        done = await self.bot.services.guilds.ban(
            guild_id,
            member.id,
            interaction.user.id,
            reason=reason,
            days=days,
            everywhere=everywhere,
            bot_id=self.bot.user.id if self.bot.user else None,
        )
        where = "everywhere" if everywhere else "in this server"
        until = (
            f" until {datetime.fromtimestamp(done.ban.expires_at, UTC):%Y-%m-%d %H:%M} UTC"
            if done.ban.expires_at is not None
            else ""
        )
        jobs = f"; {len(done.cancelled)} queued job(s) of theirs cancelled" if done.cancelled else ""
        await tell(interaction, f"{member.mention} is banned from the bot {where}{until}{jobs}")

    @app_commands.command(name="unban", description="Let a banned member use the bot again")
    async def unban(
        self, interaction: discord.Interaction, member: discord.User, everywhere: bool = False
    ) -> None:
        guild_id = _manager(interaction)
        await self.bot.services.guilds.unban(guild_id, member.id, interaction.user.id, everywhere=everywhere)
        await tell(
            interaction, f"{member.mention} may use the bot again {'everywhere' if everywhere else 'here'}"
        )

    @app_commands.command(name="bans", description="The members banned from the bot here")
    async def bans(self, interaction: discord.Interaction) -> None:
        guild_id = _manager(interaction)
        rows = await self.bot.services.guilds.listed(guild_id)
        if not rows:
            await tell(interaction, "nobody is banned from the bot here")
            return
        lines = ["Banned from the bot:"]
        for row in rows:
            until = f"until <t:{int(row.expires_at)}:f>" if row.expires_at is not None else "until unbanned"
            scope = " (everywhere, by the owner)" if row.everywhere else ""
            reason = discord.utils.escape_markdown(row.reason) if row.reason else "no reason given"
            lines.append(f"• <@{row.user_id}>{scope}: {reason}, {until}, by <@{row.banned_by}>")
        await tell(interaction, "\n".join(lines))


    @app_commands.command(name="stats", description="This server's jobs, members, GPU time and failures")
    @app_commands.describe(days=f"How many days back, today included (1–{MAX_STATS_DAYS}; default 7)")
    async def stats(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, MAX_STATS_DAYS] = 7
    ) -> None:
        guild_id = _manager(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        services = self.bot.services
        report = await server_stats(
            services.db,
            guild_id,
            days,
            nsfw_threshold=services.nsfw.threshold,
            history_days=services.settings.history_days,
        )
        await interaction.followup.send(
            report.text,
            file=discord.File(io.BytesIO(report.chart), "likeness-stats.png"),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: LikenessBot) -> None:
    await bot.add_cog(LikenessCommands(bot))
