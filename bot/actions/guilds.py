"""A community server's own rules, the same from every entry point: its settings (read, changed and
reset one by one, each checked as ``bot.guilds.declared`` declares it), its bans, and the daily
quota. Submissions ask ``policy`` before every job and button; Discord's cog only parses and replies.

Who may change them is checked by the caller (Manage Server on Discord); a bot-wide ban is the
bot owner's alone (``LIKENESS_OWNER_IDS``), checked here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import Banned, InvalidRequest, NotAllowed
from bot.guilds.declared import SETTINGS, Choices, add_to_blocklist, policy_of, stored_values
from bot.guilds.policy import BotLimits, GuildPolicy
from bot.nsfw_policy import ServerNsfw
from storage import EVERYWHERE, BanRepository, BanRow, DailyCap, GuildSettingsRepository, JobStatus

if TYPE_CHECKING:
    from bot.running.queue import JobQueue

log = logging.getLogger(__name__)

MAX_REASON = 300
MAX_BAN_DAYS = 3650


@dataclass(frozen=True, slots=True)
class BanDone:
    ban: BanRow
    cancelled: tuple[int, ...]  # the member's queued jobs the ban cancelled


class GuildListener(Protocol):
    """Told of what a server's log shows besides finished jobs (on the event loop; exceptions are
    logged, never raised to the member who acted)."""

    async def blocked(self, guild_id: int, user_id: int, what: str) -> None: ...
    async def banned(self, guild_id: int, done: BanDone) -> None: ...
    async def unbanned(self, guild_id: int, user_id: int, by: int, everywhere: bool) -> None: ...


def ban_until(ban: BanRow) -> str:
    """`` until 2026-12-31 12:00 UTC`` for a ban that ends, else nothing."""
    if ban.expires_at is None:
        return ""
    return f" until {datetime.fromtimestamp(ban.expires_at, UTC):%Y-%m-%d %H:%M} UTC"


def ban_text(ban: BanRow) -> str:
    """What a banned member reads, with the reason and the end."""
    where = "everywhere, by the bot's owner" if ban.everywhere else "in this server"
    until = ban_until(ban)
    reason = f": {ban.reason}" if ban.reason else " (no reason given)"
    return f"you are banned from using this bot {where}{until}{reason}"


class GuildActions:
    def __init__(
        self,
        settings: GuildSettingsRepository,
        bans: BanRepository,
        queue: JobQueue,
        *,
        limits: BotLimits,
        choices: Callable[[], Choices],
        owners: frozenset[int] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``choices``: the styles and models a default may name, read when one is set."""
        self.settings = settings
        self.bans = bans
        self.queue = queue
        self.limits = limits
        self.choices = choices
        self.owners = owners
        self.clock = clock
        self.listeners: list[GuildListener] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, event: str, *args: Any) -> None:
        """Tell the listeners, without waiting for them (a slow log channel delays nobody)."""
        for listener in self.listeners:
            self._spawn(getattr(listener, event)(*args), f"{event} {type(listener).__name__}")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("guild listener %s failed", task.get_name(), exc_info=task.exception())

    # -- what a job must obey -------------------------------------------------------------------
    async def policy(self, user_id: int, guild_id: int | None) -> GuildPolicy:
        """The server's policy for a member's job or button; ``Banned`` for a banned member (the
        bot-wide ban counts everywhere, the API and DMs included)."""
        await self.check_member(user_id, guild_id)
        if guild_id is None:
            return GuildPolicy()
        return policy_of(await self.settings.values(guild_id))

    async def policy_here(self, guild_id: int) -> GuildPolicy:
        """The server's policy, whoever asks (its log, the NSFW check)."""
        return policy_of(await self.settings.values(guild_id))

    async def check_member(self, user_id: int, guild_id: int | None) -> None:
        ban = await self.bans.active(user_id, guild_id)
        if ban is not None:
            raise Banned(ban_text(ban))

    async def nsfw_policy(self, guild_id: int | None) -> ServerNsfw | None:
        """Where this server lets a flagged output be posted; None outside a server (a DM or the
        API), where the bot-wide setting decides. The NSFW check asks this for each result."""
        if guild_id is None:
            return None
        return policy_of(await self.settings.values(guild_id)).nsfw

    def daily_caps(self, policy: GuildPolicy, guild_id: int | None) -> tuple[DailyCap, ...]:
        """The caps one more job of this member must fit: the bot's and the server's."""
        caps = []
        if self.limits.daily_jobs is not None:
            caps.append(DailyCap(self.limits.daily_jobs, None))
        if guild_id is not None and policy.daily_jobs is not None:
            caps.append(DailyCap(policy.daily_jobs, guild_id))
        return tuple(caps)

    async def quota_left(self, user_id: int, guild_id: int | None) -> tuple[int, int] | None:
        """(jobs left today, the cap) under the tightest cap here; None without one."""
        policy = GuildPolicy() if guild_id is None else policy_of(await self.settings.values(guild_id))
        left = [
            (max(0, cap.limit - await self.queue.repo.used_today(user_id, cap.guild_id)), cap.limit)
            for cap in self.daily_caps(policy, guild_id)
        ]
        return min(left) if left else None

    # -- settings -------------------------------------------------------------------------------
    async def values(self, guild_id: int) -> dict[str, Any]:
        return stored_values(await self.settings.values(guild_id))

    async def set(self, guild_id: int, name: str, text: str, by: int) -> Any:
        """Check and store one setting typed as text; returns the value stored."""
        setting = SETTINGS.get(name)
        if setting is None or not setting.typed:
            raise InvalidRequest(f"unknown setting “{name[:40]}”")
        policy = policy_of(await self.settings.values(guild_id))
        value = setting.read(text, policy, self.limits, self.choices())
        await self.settings.put(guild_id, name, json.dumps(value), by)
        log.info("guild %d: %s set to %r by %d", guild_id, name, value, by)
        return value

    async def reset(self, guild_id: int, name: str, by: int) -> bool:
        if name not in SETTINGS:
            raise InvalidRequest(f"unknown setting “{name[:40]}”")
        done = await self.settings.reset(guild_id, name)
        if done:
            log.info("guild %d: %s reset by %d", guild_id, name, by)
        return done

    async def block(self, guild_id: int, entry: str, by: int) -> int:
        """Add a word or /pattern/ to the blocklist; returns how many entries it holds."""
        current = policy_of(await self.settings.values(guild_id)).blocklist
        entries = add_to_blocklist(current, entry)
        await self.settings.put(guild_id, "blocklist", json.dumps(entries), by)
        return len(entries)

    async def unblock(self, guild_id: int, entry: str, by: int) -> int:
        current = list(policy_of(await self.settings.values(guild_id)).blocklist)
        kept = [e for e in current if e.lower() != entry.strip().lower()]
        if len(kept) == len(current):
            raise InvalidRequest("that entry is not on the blocklist: /likeness settings show lists it")
        if kept:
            await self.settings.put(guild_id, "blocklist", json.dumps(kept), by)
        else:
            await self.settings.reset(guild_id, "blocklist")
        return len(kept)

    async def set_log_channel(self, guild_id: int, channel_id: int, by: int) -> None:
        """The caller has checked that the bot can post there."""
        await self.settings.put(guild_id, "log_channel", json.dumps(channel_id), by)

    # -- bans -----------------------------------------------------------------------------------
    async def ban(
        self,
        guild_id: int,
        user_id: int,
        by: int,
        *,
        reason: str = "",
        days: int | None = None,
        everywhere: bool = False,
        bot_id: int | None = None,
    ) -> BanDone:
        """Ban ``user_id`` here (or everywhere: the owner's alone) and cancel their queued jobs
        here (everywhere: all of them, the API's too)."""
        if user_id == by:
            raise InvalidRequest("you cannot ban yourself")
        if bot_id is not None and user_id == bot_id:
            raise InvalidRequest("the bot cannot be banned from itself: remove it from the server instead")
        if everywhere and by not in self.owners:
            raise NotAllowed("only the bot's owner (LIKENESS_OWNER_IDS) can ban someone everywhere")
        if user_id in self.owners:
            raise NotAllowed("the bot's owner cannot be banned")
        reason = " ".join(reason.split())
        if len(reason) > MAX_REASON:
            raise InvalidRequest(f"a ban's reason is at most {MAX_REASON} characters (got {len(reason)})")
        if days is not None and not 1 <= days <= MAX_BAN_DAYS:
            raise InvalidRequest(f"days must be between 1 and {MAX_BAN_DAYS} (got {days})")
        expires = self.clock() + days * 86400 if days is not None else None
        scope = EVERYWHERE if everywhere else guild_id
        ban = await self.bans.ban(scope, user_id, reason, by, expires)
        queued = await self.queue.repo.user_jobs(user_id, [JobStatus.QUEUED])
        cancelled = []
        for job in queued:
            if everywhere or job.guild_id == guild_id:
                result = await self.queue.cancel(job.id, user_id)
                if result.job is not None and result.job.status is JobStatus.CANCELLED:
                    cancelled.append(job.id)
        self.notify("banned", guild_id, BanDone(ban, tuple(cancelled)))
        log.info(
            "user %d banned in %s by %d; cancelled jobs %s", user_id, scope or "every server", by, cancelled
        )
        return BanDone(ban, tuple(cancelled))

    async def unban(self, guild_id: int, user_id: int, by: int, *, everywhere: bool = False) -> None:
        if everywhere and by not in self.owners:
            raise NotAllowed("only the bot's owner (LIKENESS_OWNER_IDS) can lift a ban everywhere")
        if not await self.bans.unban(EVERYWHERE if everywhere else guild_id, user_id):
            where = "everywhere" if everywhere else "in this server"
            raise InvalidRequest(f"that member is not banned {where}")
        self.notify("unbanned", guild_id, user_id, by, everywhere)
        log.info("user %d unbanned in %s by %d", user_id, "every server" if everywhere else guild_id, by)

    async def listed(self, guild_id: int) -> list[BanRow]:
        """This server's bans, then the bot-wide ones."""
        return [*await self.bans.listed(guild_id), *await self.bans.listed(EVERYWHERE)]
