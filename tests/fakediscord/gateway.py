"""The gateway websocket: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE, RESUME, dispatch.

Heartbeat arrival times are recorded because the fake shares the bot's event loop: if the bot blocks
the loop, discord.py's heartbeat thread can still write to the socket but nothing is read until the loop
is free again, so the recorded gaps show exactly how long the loop was stuck.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .state import Violation

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_MESSAGE_CONTENT = 1 << 15
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT


@dataclass
class Session:
    """A gateway session; survives a dropped socket so RESUME can replay what was missed."""

    id: str
    intents: int
    seq: int = 0
    shard: int = 0
    ws: web.WebSocketResponse | None = None
    buffer: list[dict[str, Any]] = field(default_factory=list)


class Gateway:
    """Serves ``/gateway``; one bot session per shard at a time (the newest IDENTIFY of a shard wins).

    With ``FakeDiscord(shards=n)`` every IDENTIFY must carry ``shard: [id, n]`` (4011 "Sharding
    required", 4010 "Invalid shard" otherwise, as Discord closes); a guild's events go to shard
    ``(guild_id >> 22) % n`` and a DM's to shard 0, as Discord routes them."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, Session] = {}
        self.by_shard: dict[int, Session] = {}
        self.identifies = 0
        self.resumes = 0
        self.connections = 0
        self._sockets: set[web.WebSocketResponse] = set()

    @property
    def session(self) -> Session | None:
        """Shard 0's session (the only one without sharding)."""
        return self.by_shard.get(0)

    @property
    def connected(self) -> bool:
        """Every shard has a live socket."""
        return all(self._live(self.by_shard.get(shard)) for shard in range(self.fake.shards))

    @staticmethod
    def _live(session: Session | None) -> bool:
        return session is not None and session.ws is not None and not session.ws.closed

    def shard_of(self, guild_id: int | None) -> int:
        return 0 if guild_id is None else (guild_id >> 22) % self.fake.shards

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self._sockets.add(ws)
        session: Session | None = None
        try:
            interval_ms = round(self.fake.heartbeat_interval * 1000)
            await self._send(
                ws, {"op": OP_HELLO, "d": {"heartbeat_interval": interval_ms}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    if msg.type is WSMsgType.ERROR:
                        break
                    continue
                payload = json.loads(msg.data)
                op = payload.get("op")
                data = payload.get("d")
                if op == OP_HEARTBEAT:
                    self.fake.store.heartbeats.append(time.monotonic())
                    self.fake.store.notify()
                    await self._send(ws, {"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
                elif op == OP_IDENTIFY:
                    session = await self._identify(ws, data)
                elif op == OP_RESUME:
                    session = await self._resume(ws, data)
                elif op == OP_REQUEST_MEMBERS:
                    await self._members_chunk(ws, data)
                elif op == OP_PRESENCE:
                    pass
                else:
                    log.warning("fake gateway: ignoring op %s", op)
        except Exception as exc:  # a bug in the fake: make it visible instead of a mysterious timeout
            log.exception("fake gateway crashed")
            self.fake.store.record_violation(Violation("fake_internal_error", f"gateway crashed: {exc!r}"))
            await ws.close(code=4000)
        finally:
            self._sockets.discard(ws)
            if session is not None and session.ws is ws:
                session.ws = None
            self.fake.store.notify()
        return ws

    async def _send(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        await ws.send_str(json.dumps(payload))

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        token = str(data.get("token", ""))
        if self.fake.token is not None and token.removeprefix("Bot ") != self.fake.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        intents = int(data.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS & ~self.fake.privileged_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        shard, count = data.get("shard") or (0, 1)
        if count != self.fake.shards:
            if self.fake.shards > 1 and "shard" not in data:
                await ws.close(code=4011, message=b"Sharding required.")
            else:
                await ws.close(code=4010, message=b"Invalid shard.")
            return None
        if not 0 <= shard < count:
            await ws.close(code=4010, message=b"Invalid shard.")
            return None
        self.identifies += 1
        session = Session(id=secrets.token_hex(16), intents=intents, ws=ws, shard=shard)
        previous = self.by_shard.get(shard)
        if previous is not None and previous.ws is not None and previous.ws is not ws:
            await previous.ws.close(code=4000)
        self.sessions[session.id] = session
        self.by_shard[shard] = session
        fake = self.fake
        ours = self.shard_of(fake.guild_id) == shard
        await self._dispatch_to(
            session,
            "READY",
            {
                "v": 10,
                "user": fake.bot_user.payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
                "guilds": [{"id": str(fake.guild_id), "unavailable": True}] if ours else [],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": fake.gateway_url,
                "application": {"id": str(fake.app_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "_trace": ["fakediscord"],
                **({"shard": data["shard"]} if "shard" in data else {}),
            },
        )
        if ours:
            await self._dispatch_to(session, "GUILD_CREATE", fake.guild_payload())
        fake.store.notify()
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None:
            await self._send(ws, {"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        self.resumes += 1
        session.ws = ws
        self.by_shard[session.shard] = session
        last = int(data.get("seq") or 0)
        for event in [e for e in session.buffer if e["s"] > last]:
            await self._send(ws, event)
        await self._dispatch_to(session, "RESUMED", {"_trace": ["fakediscord"]})
        self.fake.store.notify()
        return session

    async def _members_chunk(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        session = self.by_shard.get(self.shard_of(self.fake.guild_id))
        if session is None:
            return
        members = [u.member_payload(with_permissions=False) for u in self.fake.members]
        chunk = {
            "guild_id": str(self.fake.guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        payload = {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data}
        session.buffer.append(payload)
        del session.buffer[:-500]
        if session.ws is not None and not session.ws.closed:
            try:
                await self._send(session.ws, payload)
            except ConnectionResetError:
                log.debug("fake gateway: socket gone while sending %s; kept for RESUME", event)

    async def dispatch(self, event: str, data: dict[str, Any], *, timeout: float = 5.0) -> None:
        """Send an event to the bot, waiting (briefly) for it to be connected and identified."""
        if not self.connected:
            await self.fake.store.wait_for(
                lambda: self.connected, timeout, "the bot to connect to the gateway"
            )
        guild = data.get("guild_id")
        session = self.by_shard[self.shard_of(int(guild) if guild is not None else None)]
        await self._dispatch_to(session, event, data)

    def intends(self, intent: int) -> bool:
        return self.session is not None and bool(self.session.intents & intent)

    async def disconnect(self, code: int = 4000) -> None:
        """Drop the socket; discord.py reconnects and RESUMEs for resumable codes such as 4000."""
        if self.session is not None and self.session.ws is not None:
            await self.session.ws.close(code=code, message=b"fakediscord disconnect")

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT, which makes discord.py close and RESUME."""
        if self.session is not None and self.session.ws is not None:
            await self._send(self.session.ws, {"op": OP_RECONNECT, "d": None, "s": None, "t": None})

    async def close(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"fakediscord shutting down")
