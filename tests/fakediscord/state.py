"""What the fake records: requests, messages (with files and edit history), interactions, violations.

Tests assert on these objects rather than on raw HTTP, and wait on them with :meth:`Store.wait_for`,
which re-checks a predicate each time anything is recorded (no polling sleeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .payloads import FLAG_EPHEMERAL, FLAG_LOADING, FakeUser

T = TypeVar("T")


@dataclass
class Violation:
    """A Discord rule the bot broke; ``rule`` is one of the ``RULE_*`` names in :mod:`.rules`."""

    rule: str
    detail: str
    method: str = ""
    path: str = ""
    status: int = 0
    at: float = field(default_factory=time.monotonic)

    def __str__(self) -> str:
        where = f" ({self.method} {self.path} -> {self.status})" if self.method else ""
        return f"[{self.rule}] {self.detail}{where}"


@dataclass
class RequestRecord:
    """One REST call as the fake saw it (``json`` is the JSON body or the multipart ``payload_json``)."""

    method: str
    path: str
    query: dict[str, str]
    at: float
    status: int = 0
    json: Any = None
    filenames: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass(frozen=True)
class Mentions:
    """Who a message's content mentions under its ``allowed_mentions`` (what Discord would ping)."""

    everyone: bool = False  # @everyone or @here
    roles: tuple[int, ...] = ()
    users: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return self.everyone or bool(self.roles or self.users)


@dataclass
class MessageWrite:
    """One create or edit of a message from a request body, with the ``allowed_mentions`` it carried.

    ``via`` names the route: "channel post", "channel edit", "callback 4", "callback 7", "followup"
    (a new message, or the deferred original it fills in) or "webhook edit". ``allowed_mentions`` is None
    when the body had no such field (Discord then parses every mention, @everyone and roles included).
    ``mentions`` is what the content mentions under those rules; Discord notifies only for creates.
    """

    message_id: int
    via: str
    edit: bool
    content: str
    ephemeral: bool
    allowed_mentions: dict[str, Any] | None
    mentions: Mentions
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """A failure the test injects: the next ``times`` requests whose method and path match answer
    ``status`` with Discord's error body instead of running (not a violation: the bot broke no rule)."""

    method: str
    path: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int = 1
    hits: list[RequestRecord] = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and self.path.search(path) is not None


@dataclass
class FakeFile:
    """An attachment stored on the fake CDN; ``data`` holds the exact bytes uploaded."""

    id: int
    filename: str
    data: bytes
    content_type: str | None
    url: str
    description: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            data["description"] = self.description
        if self.width is not None:
            data["width"] = self.width
            data["height"] = self.height
        return data


@dataclass
class MessageVersion:
    """A snapshot of a message before an edit (for asserting on progress updates)."""

    at: float
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    files: list[FakeFile]
    flags: int


@dataclass(eq=False)
class FakeMessage:
    """A message as Discord stores it; ``payload()`` is what the REST API and gateway return."""

    id: int
    channel_id: int
    guild_id: int | None
    author: dict[str, Any]
    kind: str  # "channel", "interaction_response", "followup" or "user"
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    files: list[FakeFile] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    timestamp: str = ""
    edited_timestamp: str | None = None
    created_at: float = field(default_factory=time.monotonic)
    history: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False
    reactions: list[str] = field(default_factory=list)

    # -- convenience for tests
    @property
    def loading(self) -> bool:
        """True while this is a deferred "Bot is thinking..." placeholder."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def edit_count(self) -> int:
        return len(self.history)

    @property
    def custom_ids(self) -> list[str]:
        """Every component custom_id on the message, in layout order."""
        out: list[str] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if "custom_id" in item:
                    out.append(item["custom_id"])
                walk(item.get("components") or [])
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

        walk(self.components)
        return out

    def file(self, name: str | None = None) -> FakeFile:
        """The attachment called ``name`` (or the only one)."""
        if name is None:
            if len(self.files) != 1:
                raise LookupError(f"message {self.id} has {len(self.files)} files, name one of them")
            return self.files[0]
        for f in self.files:
            if f.filename == name:
                return f
        raise LookupError(f"message {self.id} has no file {name!r} (has {[f.filename for f in self.files]})")

    def snapshot(self) -> MessageVersion:
        return MessageVersion(
            at=time.monotonic(),
            content=self.content,
            embeds=copy.deepcopy(self.embeds),
            components=copy.deepcopy(self.components),
            files=list(self.files),
            flags=self.flags,
        )

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": self.type,
            "content": self.content,
            "author": self.author,
            "attachments": [f.payload() for f in self.files],
            "embeds": copy.deepcopy(self.embeds),
            "components": copy.deepcopy(self.components),
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.reactions:
            data["reactions"] = [
                {
                    "count": 1,
                    "me": True,
                    "emoji": {"id": None, "name": r},
                    "burst_colors": [],
                    "count_details": {},
                }
                for r in self.reactions
            ]
        return data


@dataclass
class Callback:
    """The interaction callback the bot sent (type 4/5/6/7/8/9 and its ``data``)."""

    type: int
    data: dict[str, Any]
    at: float
    files: list[FakeFile] = field(default_factory=list)


@dataclass(eq=False)
class FakeInteraction:
    """An interaction the fake dispatched, and everything the bot answered to it."""

    id: int
    token: str
    type: int
    user: FakeUser
    channel_id: int
    payload: dict[str, Any]
    store: Store
    dispatched_at: float = field(default_factory=time.monotonic)
    callback: Callback | None = None
    callback_attempts: int = 0
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    source_message_id: int | None = None
    token_expired: bool = False

    @property
    def data(self) -> dict[str, Any]:
        return self.payload["data"]

    @property
    def original(self) -> FakeMessage | None:
        """The @original message (initial response, deferred placeholder, or the clicked message)."""
        if self.original_message_id is None:
            return None
        return self.store.messages_by_id.get(self.original_message_id)

    @property
    def followups(self) -> list[FakeMessage]:
        return [self.store.messages_by_id[i] for i in self.followup_ids if i in self.store.messages_by_id]

    @property
    def messages(self) -> list[FakeMessage]:
        """Original response first, then followups (deleted ones included; check ``.deleted``)."""
        original = self.original
        return ([original] if original is not None else []) + self.followups

    @property
    def choices(self) -> list[dict[str, Any]]:
        """Autocomplete answer (callback type 8)."""
        if self.callback is None or self.callback.type != 8:
            raise LookupError("no autocomplete response yet")
        return list(self.callback.data.get("choices") or [])

    def expire(self) -> None:
        """Make this interaction's token invalid now (as if 15 minutes had passed)."""
        self.token_expired = True

    async def wait_response(self, timeout: float = 5.0) -> Callback:
        """Wait for the initial callback (defer, message, autocomplete, modal...)."""
        return await self.store.wait_for(
            lambda: self.callback, timeout, f"a callback for interaction {self.id}"
        )

    async def wait_final(
        self, predicate: Callable[[FakeMessage], bool] | None = None, timeout: float = 10.0
    ) -> FakeMessage:
        """Wait for a message of this interaction matching ``predicate`` (default: not a loading placeholder).

        Messages are checked in their current state after every recorded change, so an edit that makes
        the original response match returns it as well as a new followup does.
        """
        pred = predicate or (lambda m: not m.loading)

        def find() -> FakeMessage | None:
            for message in self.messages:
                if not message.deleted and pred(message):
                    return message
            return None

        return await self.store.wait_for(find, timeout, f"a matching message for interaction {self.id}")


class Store:
    """All recorded state plus a change signal for :meth:`wait_for`."""

    def __init__(self) -> None:
        self.requests: list[RequestRecord] = []
        self.violations: list[Violation] = []
        self.messages: list[FakeMessage] = []
        self.messages_by_id: dict[int, FakeMessage] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.interactions_by_token: dict[str, FakeInteraction] = {}
        self.cdn: dict[int, FakeFile] = {}
        self.heartbeats: list[float] = []
        self.writes: list[MessageWrite] = []
        self.faults: list[Fault] = []
        self._changed = asyncio.Event()

    def notify(self) -> None:
        """Wake every :meth:`wait_for`; call after any mutation tests might wait on."""
        self._changed.set()
        self._changed = asyncio.Event()

    def add_message(self, message: FakeMessage) -> FakeMessage:
        self.messages.append(message)
        self.messages_by_id[message.id] = message
        self.notify()
        return message

    def add_interaction(self, interaction: FakeInteraction) -> None:
        self.interactions[interaction.id] = interaction
        self.interactions_by_token[interaction.token] = interaction

    def record_violation(self, violation: Violation) -> None:
        self.violations.append(violation)
        self.notify()

    def iter_live_messages(self) -> Iterator[FakeMessage]:
        return (m for m in self.messages if not m.deleted)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0, what: str = "") -> T:
        """Return the first truthy ``predicate()`` result, re-evaluated on every recorded change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._timeout_report(what or "predicate", timeout))
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _timeout_report(self, what: str, timeout: float) -> str:
        recent = "\n  ".join(str(r) for r in self.requests[-15:]) or "(none)"
        violations = "\n  ".join(str(v) for v in self.violations) or "(none)"
        return (
            f"timed out after {timeout}s waiting for {what}\n"
            f"recent requests:\n  {recent}\nviolations:\n  {violations}"
        )
