"""REST routes (``/api/v10/...``) and the CDN (``/cdn/...``), answering the way Discord does.

Every error is raised as :class:`ApiError`, which the middleware turns into Discord's JSON error body and
records as a :class:`~.state.Violation`, so a bot that ignores a limit both sees the real exception
(``discord.HTTPException`` and friends) and fails the test's no-violation check.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import rules
from .gateway import INTENT_DIRECT_MESSAGES, INTENT_GUILD_MESSAGES, INTENT_MESSAGE_CONTENT
from .payloads import (
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    iso_now,
)
from .rules import FormErrors
from .state import Callback, FakeFile, FakeInteraction, FakeMessage, MessageWrite, RequestRecord, Violation

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

API = "/api/v10"
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
_CREATE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
_EDIT_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2
RECORD_KEY = web.RequestKey("fakediscord_record", RequestRecord)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with ``Content-Type: application/json`` exactly.

    discord.py compares the header to that literal string; ``web.json_response`` appends
    ``; charset=utf-8`` and discord.py would then treat every body as text.
    """
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def no_content() -> web.Response:
    return web.Response(status=204)


class ApiError(Exception):
    """A Discord error response plus the violation it represents."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        rule: str,
        detail: str | None = None,
        errors: FormErrors | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.rule = rule
        self.errors = errors
        self.headers = headers or {}
        self.body = body
        self.detail = detail or (f"{message}: {errors.summary()}" if errors else message)

    def response(self) -> web.Response:
        body = self.body if self.body is not None else {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors.to_dict()
        return json_response(body, self.status, self.headers)


def invalid_form(errors: FormErrors, rule: str = rules.RULE_INVALID_FORM) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", rule=rule, errors=errors)


def unknown_message(detail: str) -> ApiError:
    return ApiError(404, 10008, "Unknown Message", rule=rules.RULE_UNKNOWN_MESSAGE, detail=detail)


@dataclass
class Upload:
    """One ``files[n]`` multipart part."""

    index: int
    filename: str
    data: bytes
    content_type: str | None


@dataclass
class Composed:
    """The state a message would have after a create/edit, computed before anything is mutated."""

    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    files: list[FakeFile]
    flags: int
    allowed_mentions: dict[str, Any] | None = None  # None: absent from the body


class RestApi:
    """Route handlers; all state lives on the :class:`FakeDiscord` and its :class:`Store`."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.store = fake.store
        self._edit_times: dict[int, deque[float]] = {}

    # ------------------------------------------------------------------------------------- plumbing

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get(API + "/users/@me", self.get_me)
        r.add_get(API + "/users/{user_id}", self.get_user)
        r.add_post(API + "/users/@me/channels", self.create_dm)
        r.add_get(API + "/oauth2/applications/@me", self.get_application)
        r.add_get(API + "/applications/@me", self.get_application)
        r.add_get(API + "/gateway", self.get_gateway)
        r.add_get(API + "/gateway/bot", self.get_gateway)
        r.add_get(API + "/applications/{app_id}/commands", self.get_commands)
        r.add_put(API + "/applications/{app_id}/commands", self.put_commands)
        r.add_get(API + "/applications/{app_id}/guilds/{guild_id}/commands", self.get_commands)
        r.add_put(API + "/applications/{app_id}/guilds/{guild_id}/commands", self.put_commands)
        r.add_get(API + "/guilds/{guild_id}", self.get_guild)
        r.add_get(API + "/guilds/{guild_id}/channels", self.get_guild_channels)
        r.add_get(API + "/guilds/{guild_id}/members/{user_id}", self.get_member)
        r.add_get(API + "/channels/{channel_id}", self.get_channel)
        r.add_post(API + "/channels/{channel_id}/typing", self.typing)
        r.add_get(API + "/channels/{channel_id}/messages", self.list_messages)
        r.add_post(API + "/channels/{channel_id}/messages", self.create_channel_message)
        r.add_get(API + "/channels/{channel_id}/messages/{message_id}", self.get_channel_message)
        r.add_patch(API + "/channels/{channel_id}/messages/{message_id}", self.edit_channel_message)
        r.add_delete(API + "/channels/{channel_id}/messages/{message_id}", self.delete_channel_message)
        r.add_put(
            API + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.add_reaction
        )
        r.add_delete(
            API + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self.remove_reaction
        )
        r.add_post(API + "/interactions/{interaction_id}/{token}/callback", self.interaction_callback)
        r.add_post(API + "/webhooks/{app_id}/{token}", self.execute_webhook)
        r.add_get(API + "/webhooks/{app_id}/{token}/messages/{message_id}", self.get_webhook_message)
        r.add_patch(API + "/webhooks/{app_id}/{token}/messages/{message_id}", self.edit_webhook_message)
        r.add_delete(API + "/webhooks/{app_id}/{token}/messages/{message_id}", self.delete_webhook_message)
        r.add_get("/cdn/attachments/{channel_id}/{attachment_id}/{filename}", self.cdn)
        r.add_route("*", "/{tail:.*}", self.unknown_route)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/gateway":
            return await handler(request)
        record = RequestRecord(request.method, request.path, dict(request.query), time.monotonic())
        self.store.requests.append(record)
        request[RECORD_KEY] = record
        fault = next((f for f in self.store.faults if f.matches(request.method, request.path)), None)
        if fault is not None:
            fault.times -= 1
            fault.hits.append(record)
            record.status = fault.status
            self.store.notify()
            return json_response({"message": fault.message, "code": fault.code}, fault.status)
        try:
            self._check_auth(request)
            response = await handler(request)
        except ApiError as exc:
            self.store.record_violation(
                Violation(exc.rule, exc.detail, request.method, request.path, exc.status)
            )
            response = exc.response()
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug in the fake: fail loudly and fast (a 500 makes discord.py retry)
            log.exception("fakediscord crashed handling %s %s", request.method, request.path)
            detail = f"fakediscord crashed: {exc!r}"
            self.store.record_violation(
                Violation("fake_internal_error", detail, request.method, request.path, 400)
            )
            response = json_response({"message": detail, "code": 0}, 400)
        record.status = response.status
        self.store.notify()
        return response

    def _check_auth(self, request: web.Request) -> None:
        """Bot-token routes need ``Authorization: Bot <token>``; interaction/webhook/CDN routes do not."""
        path = request.path
        if not path.startswith(API) or path.startswith((API + "/interactions/", API + "/webhooks/")):
            return
        expected = self.fake.token
        if expected is not None and request.headers.get("Authorization") != f"Bot {expected}":
            raise ApiError(
                401, 0, "401: Unauthorized", rule=rules.RULE_UNAUTHORIZED, detail="bad or missing bot token"
            )

    async def _read_body(self, request: web.Request) -> tuple[dict[str, Any], dict[int, Upload]]:
        """JSON body, or multipart ``payload_json`` + ``files[n]`` parts."""
        payload: dict[str, Any] = {}
        uploads: dict[int, Upload] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                name = getattr(part, "name", None) or ""
                if name == "payload_json":
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                elif name.startswith("files[") and name.endswith("]"):
                    index = int(name[6:-1])
                    data = await part.read(decode=False)  # type: ignore[union-attr]
                    uploads[index] = Upload(
                        index,
                        getattr(part, "filename", None) or f"file{index}",
                        bytes(data),
                        part.headers.get("Content-Type"),
                    )
        elif request.can_read_body:
            text = await request.text()
            payload = json.loads(text) if text else {}
        record = request.get(RECORD_KEY)
        if record is not None:
            record.json = payload
            record.filenames = [u.filename for u in uploads.values()]
        return payload, uploads

    # ------------------------------------------------------------------------------------- basics

    async def unknown_route(self, request: web.Request) -> web.Response:
        detail = (
            f"fakediscord has no route for {request.method} {request.path}; "
            "add it in tests/fakediscord/rest.py if the bot really needs it"
        )
        log.warning(detail)
        raise ApiError(404, 0, "404: Not Found", rule=rules.RULE_UNKNOWN_ROUTE, detail=detail)

    async def get_me(self, request: web.Request) -> web.Response:
        bot = self.fake.bot_user
        return json_response(
            bot.payload() | {"verified": True, "mfa_enabled": False, "flags": 0, "bot": True}
        )

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.fake.find_user(int(request.match_info["user_id"]))
        if user is None:
            raise ApiError(404, 10013, "Unknown User", rule="unknown_user")
        return json_response(user.payload())

    async def get_application(self, request: web.Request) -> web.Response:
        fake = self.fake
        return json_response(
            {
                "id": str(fake.app_id),
                "name": fake.app_name,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": fake.owner.payload(),
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
                "bot": fake.bot_user.payload(),
                "summary": "",
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "tags": [],
            }
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        data: dict[str, Any] = {"url": self.fake.gateway_url}
        if request.path.endswith("/bot"):
            data |= {
                "shards": self.fake.shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        return json_response(data)

    def _check_app(self, request: web.Request) -> None:
        if int(request.match_info["app_id"]) != self.fake.app_id:
            raise ApiError(404, 10002, "Unknown Application", rule="unknown_application")

    async def get_commands(self, request: web.Request) -> web.Response:
        self._check_app(request)
        guild_id = request.match_info.get("guild_id")
        commands = self.fake.synced_guild.get(int(guild_id), []) if guild_id else self.fake.synced_global
        return json_response(commands)

    async def put_commands(self, request: web.Request) -> web.Response:
        self._check_app(request)
        payload, _ = await self._read_body(request)
        body: Any = payload
        errors = rules.validate_commands(body, self.fake.limits)
        if errors:
            raise invalid_form(errors, rules.RULE_COMMAND_SCHEMA)
        guild_id = request.match_info.get("guild_id")
        if guild_id and int(guild_id) != self.fake.guild_id:
            raise ApiError(404, 10004, "Unknown Guild", rule="unknown_guild")
        previous = {
            (c["name"], c.get("type", 1)): c
            for c in (self.fake.synced_guild.get(int(guild_id), []) if guild_id else self.fake.synced_global)
        }
        result = []
        for cmd in body:
            old = previous.get((cmd["name"], cmd.get("type", 1)))
            echoed = copy.deepcopy(cmd)
            echoed.setdefault("type", 1)
            echoed.setdefault("options", [])
            echoed.setdefault("description", "")
            echoed |= {
                "id": old["id"] if old else str(self.fake.snowflake()),
                "application_id": str(self.fake.app_id),
                "version": str(self.fake.snowflake()),
                "default_member_permissions": cmd.get("default_member_permissions"),
                "nsfw": cmd.get("nsfw", False),
            }
            if guild_id:
                echoed["guild_id"] = guild_id
            result.append(echoed)
        if guild_id:
            self.fake.synced_guild[int(guild_id)] = result
        else:
            self.fake.synced_global = result
        return json_response(result)

    async def get_guild(self, request: web.Request) -> web.Response:
        if int(request.match_info["guild_id"]) != self.fake.guild_id:
            raise ApiError(404, 10004, "Unknown Guild", rule="unknown_guild")
        data = self.fake.guild_payload()
        for key in ("channels", "members", "threads", "presences", "voice_states"):
            data.pop(key, None)
        return json_response(data)

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        if int(request.match_info["guild_id"]) != self.fake.guild_id:
            raise ApiError(404, 10004, "Unknown Guild", rule="unknown_guild")
        return json_response([c for c in self.fake.channels.values() if c.get("guild_id")])

    async def get_member(self, request: web.Request) -> web.Response:
        user = self.fake.find_user(int(request.match_info["user_id"]))
        if user is None or int(request.match_info["guild_id"]) != self.fake.guild_id:
            raise ApiError(404, 10007, "Unknown Member", rule="unknown_member")
        return json_response(user.member_payload(with_permissions=False))

    async def create_dm(self, request: web.Request) -> web.Response:
        payload, _ = await self._read_body(request)
        user = self.fake.find_user(int(payload.get("recipient_id", 0)))
        if user is None:
            raise ApiError(404, 10013, "Unknown User", rule="unknown_user")
        return json_response(self.fake.dm_channel(user))

    def _channel(self, request: web.Request) -> dict[str, Any]:
        channel_id = int(request.match_info["channel_id"])
        channel = self.fake.channels.get(channel_id)
        if channel is None:
            raise ApiError(
                404, 10003, "Unknown Channel", rule=rules.RULE_UNKNOWN_CHANNEL, detail=f"channel {channel_id}"
            )
        return channel

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request))

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    async def cdn(self, request: web.Request) -> web.Response:
        stored = self.store.cdn.get(int(request.match_info["attachment_id"]))
        if stored is None:
            raise ApiError(404, 0, "404: Not Found", rule="unknown_attachment")
        return web.Response(
            body=stored.data, headers={"Content-Type": stored.content_type or "application/octet-stream"}
        )

    # ------------------------------------------------------------------------------------- messages

    def _compose(
        self,
        payload: dict[str, Any],
        uploads: dict[int, Upload],
        *,
        channel_id: int,
        existing: FakeMessage | None,
        allowed_flags: int,
    ) -> Composed:
        """Validate a create/edit body against Discord's limits and compute the resulting message."""
        limits = self.fake.limits
        total = sum(len(u.data) for u in uploads.values())
        if total > limits.attachment_size_limit:
            raise ApiError(
                413,
                40005,
                "Request entity too large",
                rule=rules.RULE_ENTITY_TOO_LARGE,
                detail=(
                    f"{total} bytes in {len(uploads)} file(s) > "
                    f"attachment_size_limit {limits.attachment_size_limit}"
                ),
            )
        errors = FormErrors()
        if existing is None:
            flags = int(payload.get("flags") or 0) & allowed_flags
            content, embeds, components = "", [], []
            kept: list[FakeFile] = []
        else:
            flags = existing.flags & ~FLAG_LOADING
            if payload.get("flags") is not None:
                flags = (
                    (flags & ~_EDIT_FLAGS)
                    | (int(payload["flags"]) & _EDIT_FLAGS)
                    | (existing.flags & FLAG_COMPONENTS_V2)
                )
            content, embeds, components = existing.content, existing.embeds, existing.components
            kept = list(existing.files)
        if "content" in payload:
            content = payload["content"] or ""
            rules._max_len(errors, ("content",), content, limits.content_length)
        files = self._resolve_attachments(payload, uploads, kept, channel_id, errors)
        rules.validate_allowed_mentions(payload.get("allowed_mentions"), errors)
        if "embeds" in payload:
            embeds = [self._normalize_embed(e, files) for e in payload["embeds"] or []]
            rules.validate_embeds(embeds, limits, errors)
        if "components" in payload:
            components = copy.deepcopy(payload["components"] or [])
            rules.validate_components(components, flags, limits, errors)
            self._resolve_media(components, files)
        if flags & FLAG_COMPONENTS_V2 and (content or embeds):
            errors.add(
                ("content" if content else "embeds",),
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
            )
        if len(files) > limits.max_files:
            errors.add(
                ("attachments",), "BASE_TYPE_MAX_LENGTH", f"Must be {limits.max_files} or fewer in length."
            )
            raise invalid_form(errors, rules.RULE_TOO_MANY_FILES)
        if errors:
            raise invalid_form(errors)
        if not (
            content or embeds or files or components or payload.get("sticker_ids") or payload.get("poll")
        ):
            raise ApiError(400, 50006, "Cannot send an empty message", rule=rules.RULE_EMPTY_MESSAGE)
        return Composed(content, embeds, components, files, flags, payload.get("allowed_mentions"))

    def _resolve_attachments(
        self,
        payload: dict[str, Any],
        uploads: dict[int, Upload],
        kept: list[FakeFile],
        channel_id: int,
        errors: FormErrors,
    ) -> list[FakeFile]:
        """Apply the ``attachments`` array: existing ids are kept, small ids point at ``files[n]``."""
        if payload.get("attachments") is None:
            return kept + [self._store_upload(u, channel_id, None, None) for u in uploads.values()]
        by_id = {f.id: f for f in kept}
        used: set[int] = set()
        result: list[FakeFile] = []
        for i, att in enumerate(payload["attachments"]):
            try:
                ref = int(att.get("id"))
            except (TypeError, ValueError):
                errors.add(("attachments", i, "id"), "BASE_TYPE_REQUIRED", "This field is required")
                continue
            if ref in by_id:
                result.append(by_id[ref])
            elif ref in uploads:
                used.add(ref)
                result.append(
                    self._store_upload(uploads[ref], channel_id, att.get("filename"), att.get("description"))
                )
            else:
                errors.add(("attachments", i, "id"), "ATTACHMENT_NOT_FOUND", f"Unknown attachment id {ref}")
        result.extend(
            self._store_upload(u, channel_id, None, None) for n, u in uploads.items() if n not in used
        )
        return result

    def _store_upload(
        self, upload: Upload, channel_id: int, filename: str | None, description: str | None
    ) -> FakeFile:
        return self.fake.store_file(
            upload.data,
            filename or upload.filename,
            upload.content_type,
            channel_id=channel_id,
            description=description,
        )

    @staticmethod
    def _normalize_embed(embed: dict[str, Any], files: list[FakeFile]) -> dict[str, Any]:
        """Discord adds ``type: rich`` and resolves ``attachment://name`` image URLs to CDN URLs."""
        out = copy.deepcopy(embed)
        out.setdefault("type", "rich")
        for key in ("image", "thumbnail"):
            media = out.get(key)
            if isinstance(media, dict) and str(media.get("url", "")).startswith("attachment://"):
                name = media["url"].removeprefix("attachment://")
                match = next((f for f in files if f.filename == name), None)
                if match is not None:
                    media.update(url=match.url, proxy_url=match.url, content_type=match.content_type)
                    if match.width is not None:
                        media.update(width=match.width, height=match.height)
        return out

    @classmethod
    def _resolve_media(cls, node: Any, files: list[FakeFile]) -> None:
        """Components v2 ``media``/``file`` items given as ``attachment://name`` point at the CDN copy."""
        if isinstance(node, list):
            for item in node:
                cls._resolve_media(item, files)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key in ("media", "file") and isinstance(value, dict):
                url = str(value.get("url", ""))
                match = next((f for f in files if url == f"attachment://{f.filename}"), None)
                if match is not None:
                    value.update(url=match.url, proxy_url=match.url, content_type=match.content_type)
                    value.update(attachment_id=str(match.id), loading_state=2, flags=0)
                    if match.width is not None:
                        value.update(width=match.width, height=match.height)
            else:
                cls._resolve_media(value, files)

    def _new_message(
        self,
        composed: Composed,
        *,
        channel_id: int,
        kind: str,
        author: dict[str, Any],
        type_: int = 0,
        interaction: FakeInteraction | None = None,
        via: str | None = None,
    ) -> FakeMessage:
        """``via`` names the route for the write record; None for the deferral's empty placeholder."""
        channel = self.fake.channels.get(channel_id, {})
        guild_id = int(channel["guild_id"]) if channel.get("guild_id") else None
        webhook = interaction is not None
        message = FakeMessage(
            id=self.fake.snowflake(),
            channel_id=channel_id,
            guild_id=guild_id,
            author=author,
            kind=kind,
            content=composed.content,
            embeds=composed.embeds,
            components=composed.components,
            files=composed.files,
            flags=composed.flags,
            type=type_,
            webhook_id=self.fake.app_id if webhook else None,
            application_id=self.fake.app_id if webhook else None,
            interaction_id=interaction.id if interaction else None,
            timestamp=iso_now(),
        )
        self.store.add_message(message)
        if via is not None:
            self._record_write(message, composed, via, edit=False)
        return message

    def _apply_edit(self, message: FakeMessage, composed: Composed, *, via: str) -> None:
        edit = not message.loading  # filling in a deferred "thinking…" placeholder is the real create
        message.history.append(message.snapshot())
        message.content = composed.content
        message.embeds = composed.embeds
        message.components = composed.components
        message.files = composed.files
        message.flags = composed.flags
        message.edited_timestamp = iso_now()
        self._record_write(message, composed, via, edit=edit)
        self.store.notify()

    def _record_write(self, message: FakeMessage, composed: Composed, via: str, *, edit: bool) -> None:
        allowed = composed.allowed_mentions
        self.store.writes.append(
            MessageWrite(
                message_id=message.id,
                via=via,
                edit=edit,
                content=composed.content,
                ephemeral=message.ephemeral,
                allowed_mentions=copy.deepcopy(allowed),
                mentions=rules.mentions_in(composed.content, allowed),
            )
        )

    def _check_edit_rate(self, message: FakeMessage) -> dict[str, str]:
        """429 when a message is edited more than ``edit_rate_limit`` times per ``edit_rate_window``.

        Returns the X-RateLimit headers for a successful edit (sent only with ``advertise_rate_limits``).
        The 429 carries ``Via`` because discord.py treats a 429 without it as a Cloudflare ban and raises
        instead of retrying.
        """
        limits = self.fake.limits
        now = time.monotonic()
        times = self._edit_times.setdefault(message.id, deque())
        while times and now - times[0] >= limits.edit_rate_window:
            times.popleft()
        if len(times) >= limits.edit_rate_limit:
            retry_after = round(times[0] + limits.edit_rate_window - now + 0.005, 3)
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(math.ceil(retry_after)),
                "X-RateLimit-Limit": str(limits.edit_rate_limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": "fakediscord-message-edit",
                "X-RateLimit-Scope": "user",
            }
            raise ApiError(
                429,
                0,
                "You are being rate limited.",
                rule=rules.RULE_RATE_LIMITED,
                detail=(
                    f"message {message.id} edited more than {limits.edit_rate_limit} times "
                    f"in {limits.edit_rate_window}s"
                ),
                headers=headers,
                body={"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            )
        times.append(now)
        if not self.fake.advertise_rate_limits:
            return {}
        reset_after = times[0] + limits.edit_rate_window - now
        return {
            "X-RateLimit-Limit": str(limits.edit_rate_limit),
            "X-RateLimit-Remaining": str(limits.edit_rate_limit - len(times)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "fakediscord-message-edit",
        }

    async def _emit(self, event: str, message: FakeMessage) -> None:
        """MESSAGE_CREATE/UPDATE/DELETE over the gateway, as Discord does for intents the bot holds."""
        fake = self.fake
        session = fake.gateway.by_shard.get(fake.gateway.shard_of(message.guild_id))
        if not fake.message_events or session is None or message.ephemeral:
            return
        intent = INTENT_GUILD_MESSAGES if message.guild_id else INTENT_DIRECT_MESSAGES
        if not session.intents & intent:
            return
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id:
                data["guild_id"] = str(message.guild_id)
        else:
            data = message.payload()
            author_id = int(message.author["id"])
            if message.guild_id and message.webhook_id is None:
                user = fake.find_user(author_id)
                if user is not None:
                    data["member"] = user.member_payload(with_user=False, with_permissions=False)
            privileged = session.intents & INTENT_MESSAGE_CONTENT
            mentioned = fake.bot_user.mention in message.content
            if not privileged and message.guild_id and author_id != fake.bot_user.id and not mentioned:
                data.update(content="", embeds=[], attachments=[], components=[])
        await fake.gateway._dispatch_to(session, event, data)

    def _get_message(self, message_id: int, channel_id: int | None = None) -> FakeMessage:
        message = self.store.messages_by_id.get(message_id)
        if (
            message is None
            or message.deleted
            or (channel_id is not None and message.channel_id != channel_id)
        ):
            raise unknown_message(f"message {message_id} does not exist")
        return message

    async def list_messages(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        limit = int(request.query.get("limit", 50))
        before = int(request.query.get("before", 0)) or None
        found = [
            m
            for m in self.store.iter_live_messages()
            if m.channel_id == channel_id and not m.ephemeral and (before is None or m.id < before)
        ]
        return json_response([m.payload() for m in sorted(found, key=lambda m: m.id, reverse=True)[:limit]])

    async def create_channel_message(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        payload, uploads = await self._read_body(request)
        composed = self._compose(
            payload, uploads, channel_id=channel_id, existing=None, allowed_flags=_CREATE_FLAGS
        )
        type_ = 19 if payload.get("message_reference") else 0
        message = self._new_message(
            composed,
            channel_id=channel_id,
            kind="channel",
            author=self.fake.bot_user.payload(),
            type_=type_,
            via="channel post",
        )
        await self._emit("MESSAGE_CREATE", message)
        return json_response(message.payload())

    async def get_channel_message(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        message = self._get_message(int(request.match_info["message_id"]), channel_id)
        if message.ephemeral:
            raise unknown_message("ephemeral messages cannot be fetched through the channel")
        return json_response(message.payload())

    async def edit_channel_message(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        message = self._get_message(int(request.match_info["message_id"]), channel_id)
        if message.ephemeral:
            raise unknown_message("ephemeral messages can only be edited with the interaction token")
        if int(message.author["id"]) != self.fake.bot_user.id:
            raise ApiError(
                403, 50005, "Cannot edit a message authored by another user", rule=rules.RULE_FORBIDDEN
            )
        headers = self._check_edit_rate(message)
        payload, uploads = await self._read_body(request)
        composed = self._compose(
            payload, uploads, channel_id=channel_id, existing=message, allowed_flags=_EDIT_FLAGS
        )
        self._apply_edit(message, composed, via="channel edit")
        await self._emit("MESSAGE_UPDATE", message)
        return json_response(message.payload(), headers=headers)

    async def delete_channel_message(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        message = self._get_message(int(request.match_info["message_id"]), channel_id)
        if message.ephemeral:
            raise unknown_message("ephemeral messages can only be deleted with the interaction token")
        await self._delete(message)
        return no_content()

    async def _delete(self, message: FakeMessage) -> None:
        message.deleted = True
        self.store.notify()
        await self._emit("MESSAGE_DELETE", message)

    async def add_reaction(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        message = self._get_message(int(request.match_info["message_id"]), channel_id)
        emoji = request.match_info["emoji"]
        if emoji not in message.reactions:
            message.reactions.append(emoji)
        self.store.notify()
        return no_content()

    async def remove_reaction(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        message = self._get_message(int(request.match_info["message_id"]), channel_id)
        emoji = request.match_info["emoji"]
        if emoji in message.reactions:
            message.reactions.remove(emoji)
        self.store.notify()
        return no_content()

    # ------------------------------------------------------------------------------------- interactions

    async def interaction_callback(self, request: web.Request) -> web.Response:
        fake = self.fake
        interaction = self.store.interactions.get(int(request.match_info["interaction_id"]))
        if interaction is None or interaction.token != request.match_info["token"]:
            raise ApiError(404, 10062, "Unknown interaction", rule=rules.RULE_UNKNOWN_INTERACTION)
        payload, uploads = await self._read_body(request)
        interaction.callback_attempts += 1
        if interaction.callback is not None:
            raise ApiError(
                400,
                40060,
                "Interaction has already been acknowledged.",
                rule=rules.RULE_ALREADY_ACKED,
                detail=f"second callback (type {payload.get('type')}) for interaction {interaction.id}",
            )
        elapsed = time.monotonic() - interaction.dispatched_at
        if elapsed > fake.limits.ack_deadline or interaction.token_expired:
            raise ApiError(
                404,
                10062,
                "Unknown interaction",
                rule=rules.RULE_ACK_LATE,
                detail=(
                    f"callback for interaction {interaction.id} came {elapsed:.2f}s after dispatch "
                    f"(deadline {fake.limits.ack_deadline}s)"
                ),
            )
        ctype = int(payload.get("type", 0))
        data = payload.get("data") or {}
        if ctype not in rules.ALLOWED_CALLBACKS.get(interaction.type, frozenset()):
            errors = FormErrors()
            errors.add(
                ("type",), "INTERACTION_CALLBACK_TYPE_INVALID", f"Callback type {ctype} is invalid here"
            )
            raise invalid_form(errors, rules.RULE_INVALID_CALLBACK)

        message: FakeMessage | None = None
        files: list[FakeFile] = []
        author = fake.bot_user.payload()
        if ctype == 4:
            composed = self._compose(
                data,
                uploads,
                channel_id=interaction.channel_id,
                existing=None,
                allowed_flags=_CREATE_FLAGS | FLAG_EPHEMERAL,
            )
            message = self._new_message(
                composed,
                channel_id=interaction.channel_id,
                kind="interaction_response",
                author=author,
                type_=20 if interaction.type == 2 else 0,
                interaction=interaction,
                via="callback 4",
            )
            files = composed.files
            interaction.original_message_id = message.id
        elif ctype == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            placeholder = Composed("", [], [], [], flags)
            message = self._new_message(
                placeholder,
                channel_id=interaction.channel_id,
                kind="interaction_response",
                author=author,
                type_=20 if interaction.type == 2 else 0,
                interaction=interaction,
            )
            interaction.original_message_id = message.id
        elif ctype in (6, 7):
            source = self.store.messages_by_id.get(interaction.source_message_id or 0)
            if source is None:
                raise unknown_message("the interaction has no source message to update")
            if ctype == 7:
                composed = self._compose(
                    data, uploads, channel_id=source.channel_id, existing=source, allowed_flags=_EDIT_FLAGS
                )
                self._apply_edit(source, composed, via="callback 7")
                files = composed.files
            message = source
            interaction.original_message_id = source.id
        elif ctype == 8:
            errors = FormErrors()
            rules.validate_autocomplete(data, fake.limits, errors)
            if errors:
                raise invalid_form(errors)
        elif ctype == 9:
            errors = FormErrors()
            rules.validate_modal(data, fake.limits, errors)
            if errors:
                raise invalid_form(errors)

        interaction.callback = Callback(ctype, data, time.monotonic(), files)
        self.store.notify()
        if message is not None and ctype == 4:
            await self._emit("MESSAGE_CREATE", message)
        elif message is not None and ctype == 7:
            await self._emit("MESSAGE_UPDATE", message)
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return no_content()
        body: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": ctype == 5,
                "response_message_ephemeral": bool(message and message.ephemeral),
            },
            "resource": {"type": ctype},
        }
        if message is not None and ctype in (4, 5, 7):
            body["interaction"]["response_message_id"] = str(message.id)
            body["resource"]["message"] = message.payload()
        return json_response(body)

    def _webhook_interaction(self, request: web.Request) -> FakeInteraction:
        """Resolve ``/webhooks/{app}/{token}``, enforcing the token lifetime."""
        if int(request.match_info["app_id"]) != self.fake.app_id:
            raise ApiError(404, 10015, "Unknown Webhook", rule=rules.RULE_UNKNOWN_WEBHOOK)
        token = request.match_info["token"]
        interaction = self.store.interactions_by_token.get(token)
        if interaction is None:
            raise ApiError(
                401, 50027, "Invalid Webhook Token", rule=rules.RULE_UNKNOWN_WEBHOOK, detail="unknown token"
            )
        age = time.monotonic() - interaction.dispatched_at
        if interaction.token_expired or age > self.fake.limits.token_lifetime:
            raise ApiError(
                401,
                50027,
                "Invalid Webhook Token",
                rule=rules.RULE_TOKEN_EXPIRED,
                detail=(
                    f"token of interaction {interaction.id} used {age:.2f}s after dispatch "
                    f"(lifetime {self.fake.limits.token_lifetime}s"
                    f"{', expired on demand' if interaction.token_expired else ''})"
                ),
            )
        return interaction

    def _webhook_message(self, request: web.Request, interaction: FakeInteraction) -> FakeMessage:
        raw = request.match_info["message_id"]
        if raw == "@original":
            if interaction.original_message_id is None:
                raise unknown_message(f"interaction {interaction.id} has no original response yet")
            message = self.store.messages_by_id[interaction.original_message_id]
        else:
            message = self._get_message(int(raw))
        if message.deleted or message.webhook_id != self.fake.app_id:
            raise unknown_message(f"message {message.id} was not sent by this application's interactions")
        return message

    async def execute_webhook(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        payload, uploads = await self._read_body(request)
        if interaction.callback is None:
            raise ApiError(
                404,
                10015,
                "Unknown Webhook",
                rule=rules.RULE_UNKNOWN_WEBHOOK,
                detail=f"followup for interaction {interaction.id} before it was acknowledged",
            )
        original = interaction.original
        if original is not None and original.loading and not original.deleted:
            # Discord turns the first followup after a deferral into the original response, keeping the
            # deferral's ephemerality.
            composed = self._compose(
                payload, uploads, channel_id=original.channel_id, existing=original, allowed_flags=_EDIT_FLAGS
            )
            composed.flags = (composed.flags & ~FLAG_EPHEMERAL) | (original.flags & FLAG_EPHEMERAL)
            self._apply_edit(original, composed, via="followup")
            message = original
            await self._emit("MESSAGE_CREATE", message)
        else:
            composed = self._compose(
                payload,
                uploads,
                channel_id=interaction.channel_id,
                existing=None,
                allowed_flags=_CREATE_FLAGS | FLAG_EPHEMERAL,
            )
            message = self._new_message(
                composed,
                channel_id=interaction.channel_id,
                kind="followup",
                author=self.fake.bot_user.payload(),
                interaction=interaction,
                via="followup",
            )
            interaction.followup_ids.append(message.id)
            self.store.notify()
            await self._emit("MESSAGE_CREATE", message)
        if request.query.get("wait", "").lower() in ("1", "true"):
            return json_response(message.payload())
        return no_content()

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        return json_response(self._webhook_message(request, interaction).payload())

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(request, interaction)
        headers = self._check_edit_rate(message)
        payload, uploads = await self._read_body(request)
        composed = self._compose(
            payload, uploads, channel_id=message.channel_id, existing=message, allowed_flags=_EDIT_FLAGS
        )
        was_loading = message.loading
        self._apply_edit(message, composed, via="webhook edit")
        await self._emit("MESSAGE_CREATE" if was_loading else "MESSAGE_UPDATE", message)
        return json_response(message.payload(), headers=headers)

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        await self._delete(self._webhook_message(request, interaction))
        return no_content()
