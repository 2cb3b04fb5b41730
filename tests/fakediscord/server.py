"""``FakeDiscord``: one aiohttp app on 127.0.0.1 serving REST, the gateway and the CDN, plus the
test-facing API (act as users, inspect what the bot did, enforce Discord's rules).

discord.py is redirected by two class attributes (``Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``),
so the library under test runs unmodified: option parsing, deferral, multipart uploads, view routing and
rate-limit handling are all exercised for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote, urlparse

import yarl
from aiohttp import web
from discord.gateway import DiscordWebSocket
from discord.http import Route

from . import rules
from .gateway import PRIVILEGED_INTENTS, Gateway
from .payloads import (
    ALL_PERMISSIONS,
    FakeUser,
    SnowflakeFactory,
    channel_payload,
    dm_channel_payload,
    everyone_role,
    guild_payload,
    image_size,
    iso_now,
    new_token,
    sniff_content_type,
)
from .rest import RestApi
from .rules import Limits
from .state import (
    FakeFile,
    FakeInteraction,
    FakeMessage,
    Fault,
    MessageWrite,
    RequestRecord,
    Store,
    Violation,
)

T = TypeVar("T")

AttachmentLike = dict[str, Any] | FakeFile | bytes | tuple[str, bytes]
MessageLike = FakeMessage | dict[str, Any] | int


class FakeDiscord:
    """A local Discord for end-to-end bot tests.

    Limits (see :class:`~.rules.Limits`) can be passed as keyword overrides, e.g.
    ``FakeDiscord(ack_deadline=0.3, token_lifetime=1.0)``, or changed later on ``fake.limits``.

    ``advertise_rate_limits`` adds real X-RateLimit-* headers to successful edits; discord.py then
    pre-emptively waits instead of hitting 429s. It is off by default so a bot that edits too often
    gets a 429 (and a ``rate_limited`` violation) rather than being silently slowed down.
    """

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        token: str | None = "fake-bot-token",
        heartbeat_interval: float = 41.25,
        advertise_rate_limits: bool = False,
        message_events: bool = True,
        privileged_intents: int = PRIVILEGED_INTENTS,
        app_name: str = "Likeness (fake)",
        guild_name: str = "Fake Guild",
        channel_name: str = "general",
        max_request_size: int = 256 * 1024 * 1024,
        shards: int = 1,
        **limit_overrides: Any,
    ) -> None:
        self.limits = dataclasses.replace(limits or Limits(), **limit_overrides)
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.advertise_rate_limits = advertise_rate_limits
        self.message_events = message_events
        self.privileged_intents = privileged_intents
        self.app_name = app_name
        self.max_request_size = max_request_size
        self.shards = shards  # /gateway/bot's recommendation, and what every IDENTIFY must say

        self.snowflake = SnowflakeFactory()
        self.store = Store()
        self.app_id = self.snowflake()
        self.bot_user = FakeUser(self.app_id, "likeness-bot", bot=True)
        self.owner = FakeUser(self.snowflake(), "owner")
        self.members: list[FakeUser] = [self.bot_user, self.owner]
        self.user = self.add_user("tester")
        self.guild_id = self.snowflake()
        while shards > 1 and (self.guild_id >> 22) % shards != shards - 1:  # on the last shard, not 0
            self.guild_id = self.snowflake()
        self.guild_name = guild_name
        self.channels: dict[int, dict[str, Any]] = {}
        # The @everyone role's permissions (a bit field as a string): every bit, Administrator
        # included, unless a test takes some away so that channel overwrites count.
        self.everyone_permissions = ALL_PERMISSIONS
        self.channel_id = self.add_channel(channel_name)
        self._dm_channels: dict[int, int] = {}
        self.synced_global: list[dict[str, Any]] = []
        self.synced_guild: dict[int, list[dict[str, Any]]] = {}

        self.gateway = Gateway(self)
        self.rest = RestApi(self)
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._saved_patch: tuple[str, yarl.URL] | None = None

    # ------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving."""
        app = web.Application(client_max_size=self.max_request_size, middlewares=[self.rest.middleware])
        app.router.add_get("/gateway", self.gateway.handle)
        self.rest.register(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.uninstall()

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def install(self) -> None:
        """Point discord.py at this fake (process-wide class attributes; one fake at a time)."""
        if self._saved_patch is None:
            self._saved_patch = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    def uninstall(self) -> None:
        if self._saved_patch is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_patch
            self._saved_patch = None

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[FakeDiscord]:
        """``with fake.patch_discord(): ...`` redirects discord.py and restores it afterwards."""
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    # ------------------------------------------------------------------------------------- config shortcuts

    @property
    def ack_deadline(self) -> float:
        return self.limits.ack_deadline

    @ack_deadline.setter
    def ack_deadline(self, value: float) -> None:
        self.limits.ack_deadline = value

    @property
    def token_lifetime(self) -> float:
        return self.limits.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, value: float) -> None:
        self.limits.token_lifetime = value

    # ------------------------------------------------------------------------------------- world

    def add_user(self, name: str, *, bot: bool = False) -> FakeUser:
        """A new guild member with a distinct id (for multi-user tests)."""
        user = FakeUser(self.snowflake(), name, bot=bot)
        self.members.append(user)
        return user

    def find_user(self, user_id: int) -> FakeUser | None:
        return next((u for u in self.members if u.id == user_id), None)

    def add_channel(self, name: str, *, nsfw: bool = False) -> int:
        """Another guild text channel (only visible to a bot that connects afterwards); ``nsfw``:
        Discord's age-restricted flag."""
        channel_id = self.snowflake()
        self.channels[channel_id] = channel_payload(
            channel_id, guild_id=self.guild_id, name=name, position=len(self.channels)
        )
        self.channels[channel_id]["nsfw"] = nsfw
        return channel_id

    async def update_channel(self, channel_id: int, **changes: Any) -> None:
        """Change a guild channel (``nsfw=False``: a moderator lifts its age restriction) and tell the
        bot, as Discord does, with CHANNEL_UPDATE."""
        self.channels[channel_id].update(changes)
        await self.gateway.dispatch("CHANNEL_UPDATE", self.channels[channel_id])

    def dm_channel(self, user: FakeUser) -> dict[str, Any]:
        """The DM channel between the bot and ``user`` (created on first use)."""
        channel_id = self._dm_channels.get(user.id)
        if channel_id is None:
            channel_id = self.snowflake()
            self._dm_channels[user.id] = channel_id
            self.channels[channel_id] = dm_channel_payload(channel_id, user)
        return self.channels[channel_id]

    def guild_payload(self) -> dict[str, Any]:
        payload = guild_payload(
            self.guild_id,
            name=self.guild_name,
            owner_id=self.owner.id,
            channels=[c for c in self.channels.values() if c.get("guild_id")],
            members=[u.member_payload(with_permissions=False) for u in self.members],
        )
        payload["roles"][0]["permissions"] = self.everyone_permissions
        return payload

    # ------------------------------------------------------------------------------------- CDN

    def store_file(
        self,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        channel_id: int | None = None,
        description: str | None = None,
    ) -> FakeFile:
        file_id = self.snowflake()
        size = image_size(data)
        url = f"{self.base_url}/cdn/attachments/{channel_id or self.channel_id}/{file_id}/{quote(filename)}"
        stored = FakeFile(
            id=file_id,
            filename=filename,
            data=bytes(data),
            content_type=sniff_content_type(data, filename, content_type),
            url=url,
            description=description,
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.store.cdn[file_id] = stored
        return stored

    def add_attachment(self, data: bytes, filename: str, content_type: str | None = None) -> dict[str, Any]:
        """Put a file on the CDN as if a user uploaded it; returns the attachment payload."""
        return self.store_file(data, filename, content_type).payload()

    def download(self, url_or_file: str | FakeFile | dict[str, Any]) -> bytes:
        """Bytes of a CDN attachment (no HTTP round trip)."""
        if isinstance(url_or_file, FakeFile):
            return url_or_file.data
        url = url_or_file["url"] if isinstance(url_or_file, dict) else url_or_file
        parts = urlparse(url).path.split("/")
        return self.store.cdn[int(parts[-2])].data

    # ------------------------------------------------------------------------------------- recorded state

    @property
    def requests(self) -> list[RequestRecord]:
        return self.store.requests

    @property
    def violations(self) -> list[Violation]:
        return self.store.violations

    @property
    def messages(self) -> list[FakeMessage]:
        """Every message created (deleted ones keep ``deleted=True``), in creation order."""
        return self.store.messages

    @property
    def writes(self) -> list[MessageWrite]:
        """Every message create/edit made from a request body, with its ``allowed_mentions``, in order."""
        return self.store.writes

    @property
    def heartbeats(self) -> list[float]:
        """``time.monotonic()`` of each gateway heartbeat received."""
        return self.store.heartbeats

    @property
    def interactions(self) -> list[FakeInteraction]:
        return list(self.store.interactions.values())

    @property
    def synced_commands(self) -> list[dict[str, Any]]:
        """Global commands followed by guild commands, as the bot last synced them."""
        return self.synced_global + [c for cmds in self.synced_guild.values() for c in cmds]

    def message(self, message_id: int) -> FakeMessage:
        return self.store.messages_by_id[message_id]

    def take_violations(self, rule: str | None = None) -> list[Violation]:
        """Remove and return violations (all, or one rule) that a test provoked on purpose."""
        taken = [v for v in self.store.violations if rule is None or v.rule == rule]
        kept = [v for v in self.store.violations if all(v is not t for t in taken)]
        self.store.violations[:] = kept
        return taken

    def assert_no_violations(self, allow: Iterable[str] = ()) -> None:
        allowed = set(allow)
        remaining = [v for v in self.store.violations if v.rule not in allowed]
        if remaining:
            lines = "\n  ".join(str(v) for v in remaining)
            raise AssertionError(f"the bot broke {len(remaining)} Discord rule(s):\n  {lines}")

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` returns something truthy (re-checked on every recorded change)."""
        return await self.store.wait_for(predicate, timeout)

    async def wait_for_message(
        self, predicate: Callable[[FakeMessage], bool] = lambda m: True, timeout: float = 5.0
    ) -> FakeMessage:
        """First live message (in its current state) satisfying ``predicate``."""

        def find() -> FakeMessage | None:
            return next((m for m in self.store.iter_live_messages() if predicate(m)), None)

        return await self.store.wait_for(find, timeout, "a matching message")

    async def wait_heartbeats(self, count: int, timeout: float = 5.0) -> list[float]:
        await self.store.wait_for(lambda: len(self.heartbeats) >= count, timeout, f"{count} heartbeats")
        return self.heartbeats

    def heartbeat_gaps(self, since: float = 0.0) -> list[float]:
        """Intervals between consecutive heartbeats, for beats received at or after ``since``.

        A gap much longer than ``heartbeat_interval`` means the event loop was blocked that long.
        """
        beats = self.heartbeats
        return [b - a for a, b in itertools.pairwise(beats) if b >= since]

    def expire_tokens(self) -> None:
        """Invalidate every interaction token issued so far (simulates the 15-minute lifetime passing)."""
        for interaction in self.store.interactions.values():
            interaction.expire()

    def fail_requests(
        self,
        method: str,
        path: str,
        *,
        status: int = 401,
        code: int = 50027,
        message: str = "Invalid Webhook Token",
        times: int = 1,
    ) -> Fault:
        """Make the next ``times`` ``method`` requests whose API path matches the regex ``path`` fail with
        ``status`` (default: the 401 Discord gives a dead interaction token). ``Fault.hits`` records them.

        A status of 500 or more makes discord.py retry, so prefer 4xx.
        """
        fault = Fault(method.upper(), re.compile(path), status, code, message, times)
        self.store.faults.append(fault)
        return fault

    async def disconnect_gateway(self, code: int = 4000) -> None:
        """Close the bot's websocket; discord.py reconnects and RESUMEs (see ``gateway.resumes``)."""
        await self.gateway.disconnect(code)

    # ------------------------------------------------------------------------------------- acting as users

    def _find_command(self, name: str, type_: int) -> tuple[dict[str, Any], bool]:
        for cmd in self.synced_guild.get(self.guild_id, []):
            if cmd["name"] == name and cmd.get("type", 1) == type_:
                return cmd, True
        for cmd in self.synced_global:
            if cmd["name"] == name and cmd.get("type", 1) == type_:
                return cmd, False
        known = sorted(c["name"] for c in self.synced_commands)
        raise LookupError(
            f"no synced command {name!r} of type {type_} (synced: {known}); did the bot call tree.sync()?"
        )

    @staticmethod
    def _descend(
        schema: dict[str, Any], group: str | None, subcommand: str | None
    ) -> tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], list[dict[str, Any]]]]:
        """The leaf option schemas and a function nesting leaf values under group/subcommand."""
        options = schema.get("options") or []
        path: list[tuple[int, str]] = []
        for kind, wanted in ((2, group), (1, subcommand)):
            if wanted is None:
                continue
            match = next((o for o in options if o["type"] == kind and o["name"] == wanted), None)
            if match is None:
                raise LookupError(
                    f"{schema['name']!r} has no {'group' if kind == 2 else 'subcommand'} {wanted!r}"
                )
            path.append((kind, wanted))
            options = match.get("options") or []
        if any(o["type"] in (1, 2) for o in options):
            raise LookupError(f"{schema['name']!r} needs group=/subcommand= to pick a subcommand")

        def wrap(leaf: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for kind, name in reversed(path):
                leaf = [{"type": kind, "name": name, "options": leaf}]
            return leaf

        return options, wrap

    def _attachment_payload(self, value: AttachmentLike, option: str) -> dict[str, Any]:
        if isinstance(value, FakeFile):
            return value.payload()
        if isinstance(value, bytes | bytearray):
            kind = sniff_content_type(bytes(value), "", None) or "application/octet-stream"
            extension = {
                "image/png": ".png",
                "image/jpeg": ".jpg",
                "image/gif": ".gif",
                "image/webp": ".webp",
            }
            return self.add_attachment(bytes(value), f"{option}{extension.get(kind, '.bin')}")
        if isinstance(value, tuple):
            filename, data = value
            return self.add_attachment(data, filename)
        if isinstance(value, dict) and "id" in value:
            return value
        raise TypeError(
            f"attachment option {option!r}: pass add_attachment()'s dict, a FakeFile, bytes or (name, bytes)"
        )

    def _convert(self, opt: dict[str, Any], value: Any, resolved: dict[str, dict[str, Any]]) -> Any:
        """Plain Python value -> option value as Discord sends it, filling ``resolved`` for snowflakes."""
        kind, name = opt["type"], opt["name"]
        if kind == 3:
            return str(value)
        if kind == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"option {name!r} is an integer, got {value!r}")
            return value
        if kind == 5:
            return bool(value)
        if kind == 10:
            return float(value)
        if kind in (6, 9) and isinstance(value, FakeUser):
            resolved.setdefault("users", {})[str(value.id)] = value.payload()
            resolved.setdefault("members", {})[str(value.id)] = value.member_payload(with_user=False)
            return str(value.id)
        if kind == 7:
            channel_id = int(value["id"]) if isinstance(value, dict) else int(value)
            channel = self.channels[channel_id] | {"permissions": ALL_PERMISSIONS}
            resolved.setdefault("channels", {})[str(channel_id)] = channel
            return str(channel_id)
        if kind in (8, 9):
            role_id = int(value)
            role = everyone_role(self.guild_id) | {"id": str(role_id), "name": f"role-{role_id}"}
            resolved.setdefault("roles", {})[str(role_id)] = role
            return str(role_id)
        if kind == 11:
            attachment = self._attachment_payload(value, name)
            resolved.setdefault("attachments", {})[str(attachment["id"])] = attachment
            return str(attachment["id"])
        raise TypeError(f"option {name!r}: unsupported type {kind} / value {value!r}")

    def _build_options(
        self,
        schema_options: list[dict[str, Any]],
        values: dict[str, Any] | list[dict[str, Any]] | None,
        resolved: dict[str, dict[str, Any]],
        focused: str | None = None,
    ) -> list[dict[str, Any]]:
        if isinstance(values, list):
            return values  # raw option payloads, passed through untouched
        values = dict(values or {})
        if focused is not None:
            values.setdefault(focused, "")
        by_name = {o["name"]: o for o in schema_options}
        unknown = set(values) - set(by_name)
        if unknown:
            raise LookupError(f"unknown option(s) {sorted(unknown)}; the command has {sorted(by_name)}")
        if focused is None:
            missing = [o["name"] for o in schema_options if o.get("required") and o["name"] not in values]
            if missing:
                raise ValueError(
                    f"required option(s) missing: {missing} (Discord's client would not send this)"
                )
        out = []
        for opt in schema_options:
            if opt["name"] not in values:
                continue
            value = values[opt["name"]]
            if opt["name"] == focused:
                out.append({"name": opt["name"], "type": opt["type"], "value": str(value), "focused": True})
                continue
            converted = self._convert(opt, value, resolved)
            choices = opt.get("choices")
            if choices and converted not in [c["value"] for c in choices]:
                raise ValueError(f"option {opt['name']!r} must be one of {[c['value'] for c in choices]}")
            out.append({"name": opt["name"], "type": opt["type"], "value": converted})
        return out

    async def _dispatch_interaction(
        self,
        *,
        type_: int,
        user: FakeUser | None,
        data: dict[str, Any],
        channel_id: int | None = None,
        dm: bool = False,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        user = user or self.user
        channel = self.dm_channel(user) if dm else self.channels[channel_id or self.channel_id]
        is_dm = channel["type"] == 1
        interaction_id = self.snowflake()
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.app_id),
            "type": type_,
            "token": new_token(),
            "version": 1,
            "data": data,
            "channel": channel,
            "channel_id": channel["id"],
            "attachment_size_limit": self.limits.attachment_size_limit,
            "app_permissions": ALL_PERMISSIONS,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)} if not is_dm else {"1": str(user.id)},
            "context": 1 if is_dm else 0,
        }
        if is_dm:
            payload["user"] = user.payload()
        else:
            payload |= {
                "guild_id": str(self.guild_id),
                "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
                "guild_locale": "en-US",
                "member": user.member_payload(),
            }
        if message is not None:
            payload["message"] = message
        interaction = FakeInteraction(
            id=interaction_id,
            token=payload["token"],
            type=type_,
            user=user,
            channel_id=int(channel["id"]),
            payload=payload,
            store=self.store,
            source_message_id=int(message["id"]) if message else None,
        )
        self.store.add_interaction(interaction)
        if not self.gateway.connected:
            await self.store.wait_for(
                lambda: self.gateway.connected, 5.0, "the bot to connect to the gateway"
            )
        interaction.dispatched_at = time.monotonic()
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(self.limits.ack_deadline, self._check_acknowledged, interaction))
        self.store.notify()
        return interaction

    def _check_acknowledged(self, interaction: FakeInteraction) -> None:
        if interaction.callback is None:
            self.store.record_violation(
                Violation(
                    rules.RULE_ACK_MISSING,
                    f"interaction {interaction.id} "
                    f"({interaction.data.get('name') or interaction.data.get('custom_id')}) "
                    f"was not acknowledged within {self.limits.ack_deadline}s",
                )
            )

    async def slash(
        self,
        user: FakeUser | None,
        name: str,
        options: dict[str, Any] | list[dict[str, Any]] | None = None,
        *,
        subcommand: str | None = None,
        group: str | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Invoke a synced slash command as ``user`` (None: the default ``fake.user``).

        ``options`` are plain values ({"prompt": "a cat", "image": fake.add_attachment(...)}); types come
        from the schema the bot synced, and attachment/user/channel options get their ``resolved`` data.
        Returns as soon as INTERACTION_CREATE is sent; await ``wait_response``/``wait_final`` on the result.
        """
        schema, guild_scoped = self._find_command(name, 1)
        leaf, wrap = self._descend(schema, group, subcommand)
        resolved: dict[str, dict[str, Any]] = {}
        data: dict[str, Any] = {
            "id": schema["id"],
            "name": name,
            "type": 1,
            "options": wrap(self._build_options(leaf, options, resolved)),
        }
        if resolved:
            data["resolved"] = resolved
        if guild_scoped:
            data["guild_id"] = str(self.guild_id)
        return await self._dispatch_interaction(
            type_=2, user=user, data=data, channel_id=channel_id, dm=dm, locale=locale
        )

    async def autocomplete(
        self,
        user: FakeUser | None,
        name: str,
        options: dict[str, Any] | None,
        focused: str,
        *,
        subcommand: str | None = None,
        group: str | None = None,
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        """Type into option ``focused`` (its value in ``options`` is the partial text); return the choices."""
        schema, guild_scoped = self._find_command(name, 1)
        leaf, wrap = self._descend(schema, group, subcommand)
        resolved: dict[str, dict[str, Any]] = {}
        data: dict[str, Any] = {
            "id": schema["id"],
            "name": name,
            "type": 1,
            "options": wrap(self._build_options(leaf, options, resolved, focused=focused)),
        }
        if guild_scoped:
            data["guild_id"] = str(self.guild_id)
        interaction = await self._dispatch_interaction(type_=4, user=user, data=data)
        await interaction.wait_response(timeout)
        return interaction.choices

    async def context_menu(
        self, user: FakeUser | None, name: str, target: FakeUser | MessageLike
    ) -> FakeInteraction:
        """Run a user (target is a FakeUser) or message context-menu command."""
        if isinstance(target, FakeUser):
            schema, guild_scoped = self._find_command(name, 2)
            resolved: dict[str, Any] = {
                "users": {str(target.id): target.payload()},
                "members": {str(target.id): target.member_payload(with_user=False)},
            }
            target_id = target.id
        else:
            schema, guild_scoped = self._find_command(name, 3)
            message = self._message_payload(target)
            resolved = {"messages": {message["id"]: message}}
            target_id = int(message["id"])
        data: dict[str, Any] = {
            "id": schema["id"],
            "name": name,
            "type": schema.get("type", 1),
            "target_id": str(target_id),
            "resolved": resolved,
        }
        if guild_scoped:
            data["guild_id"] = str(self.guild_id)
        return await self._dispatch_interaction(type_=2, user=user, data=data)

    def _message_payload(self, message: MessageLike) -> dict[str, Any]:
        """Current payload of a recorded message (or a raw payload dict as given)."""
        if isinstance(message, FakeMessage):
            return self.store.messages_by_id[message.id].payload()
        if isinstance(message, int):
            return self.store.messages_by_id[message].payload()
        stored = self.store.messages_by_id.get(int(message["id"]))
        return stored.payload() if stored is not None else message

    @staticmethod
    def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
        for comp in components:
            if comp.get("custom_id") == custom_id:
                return comp
            for child in [
                *(comp.get("components") or []),
                *([comp["accessory"]] if comp.get("accessory") else []),
            ]:
                found = FakeDiscord._find_component([child], custom_id)
                if found is not None:
                    return found
        return None

    async def click(
        self, user: FakeUser | None, message: MessageLike, custom_id: str, *, values: list[str] | None = None
    ) -> FakeInteraction:
        """Click a button (or pick ``values`` in a select) on a message, as ``user``.

        The component must exist and be enabled on the message's current version, as in the real client.
        """
        payload = self._message_payload(message)
        component = self._find_component(payload.get("components") or [], custom_id)
        if component is None:
            stored = self.store.messages_by_id.get(int(payload["id"]))
            ids = stored.custom_ids if stored else []
            raise LookupError(f"message {payload['id']} has no component {custom_id!r} (has {ids})")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; a user cannot click it")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in (3, 5, 6, 7, 8):
            data["values"] = list(values or [])
        channel = self.channels.get(int(payload["channel_id"]), {})
        return await self._dispatch_interaction(
            type_=3,
            user=user,
            data=data,
            channel_id=int(payload["channel_id"]) if channel.get("guild_id") else None,
            dm=channel.get("type") == 1,
            message=payload,
        )

    async def submit_modal(
        self, user: FakeUser | None, interaction: FakeInteraction, values: dict[str, str]
    ) -> FakeInteraction:
        """Fill in and submit the modal the bot opened (callback type 9) in ``interaction``, as the
        MODAL_SUBMIT interaction (type 5) Discord sends: ``values`` by text input ``custom_id``, any
        input left out keeping its pre-filled value (``""`` clears one). Like the real client, it will
        not submit a required input empty, a value outside its lengths or an input the modal lacks.
        The modal may be submitted at any time, after a restart of the bot too."""
        callback = interaction.callback
        if callback is None or callback.type != 9:
            raise LookupError(f"interaction {interaction.id} did not answer with a modal")
        modal = callback.data
        rules.check_modal_values(modal.get("components") or [], values)
        ids = itertools.count(1)  # Discord numbers the components it was given without an id

        def fill(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for comp in components:
                number = comp.get("id") or next(ids)
                if comp.get("type") == 1:
                    out.append({"type": 1, "id": number, "components": fill(comp.get("components") or [])})
                elif comp.get("type") == 18 and isinstance(comp.get("component"), dict):
                    out.append({"type": 18, "id": number, "component": fill([comp["component"]])[0]})
                elif "custom_id" in comp:
                    custom_id = comp["custom_id"]
                    out.append(
                        {
                            "type": comp["type"],
                            "id": number,
                            "custom_id": custom_id,
                            "value": values.get(custom_id, comp.get("value") or ""),
                        }
                    )
            return out

        data = {"custom_id": modal["custom_id"], "components": fill(modal.get("components") or [])}
        message = None
        if interaction.source_message_id is not None:
            message = self.store.messages_by_id[interaction.source_message_id].payload()
        return await self._dispatch_interaction(
            type_=5,
            user=user or interaction.user,
            data=data,
            channel_id=interaction.channel_id,
            message=message,
        )

    async def user_message(
        self,
        user: FakeUser | None,
        content: str = "",
        *,
        attachments: Iterable[AttachmentLike] = (),
        channel_id: int | None = None,
    ) -> FakeMessage:
        """Post as ``user`` (MESSAGE_CREATE; content is hidden without the message_content intent)."""
        user = user or self.user
        channel_id = channel_id or self.channel_id
        files = []
        for att in attachments:
            payload = self._attachment_payload(att, "upload")
            files.append(self.store.cdn[int(payload["id"])])
        message = FakeMessage(
            id=self.snowflake(),
            channel_id=channel_id,
            guild_id=self.guild_id if self.channels[channel_id].get("guild_id") else None,
            author=user.payload(),
            kind="user",
            content=content,
            files=files,
            timestamp=iso_now(),
        )
        self.store.add_message(message)
        if not self.gateway.connected:
            await self.store.wait_for(
                lambda: self.gateway.connected, 5.0, "the bot to connect to the gateway"
            )
        await self.rest._emit("MESSAGE_CREATE", message)
        return message
