"""A cap on every request body, counted on the bytes received, not on what ``Content-Length`` says.

A chunked body has no length to check, and Starlette's parsers read what they are given: a multipart
form spools it to disk, a url-encoded one grows in memory, ``request.body()`` keeps it all. So this
pure ASGI middleware wraps ``receive``: a declared length over the cap is answered 413 before any
byte is read, and a body that grows past it stops there (the parser fails on the next read) and is
answered 413 too. A route lowers its own cap with ``limit_body`` before it reads.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api.errors import ApiError, error_response
from bot.engine.uploads import MAX_UPLOAD_BYTES

log = logging.getLogger(__name__)

JSON_LIMIT = 2**20
"""Bodies other than multipart: JSON carries options and URLs, never images; 1 MiB is far more
than the longest job needs (a url-encoded form is held in memory whole, so it gets the same cap)."""

SCOPE_KEY = "likeness.body_limit"


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "too_large", too_large_message(limit))
        self.limit = limit


def too_large_message(limit: int, declared: int | None = None) -> str:
    size = f"is {declared / 2**20:.1f} MiB, over" if declared is not None else "is over"
    rule = (
        f"each file may be at most {MAX_UPLOAD_BYTES // 2**20} MiB"
        if limit > JSON_LIMIT
        else "a body without files carries options and URLs, not images"
    )
    return f"the request {size} the {limit / 2**20:g} MiB this route takes: {rule}"


def limit_body(scope: MutableMapping[str, Any], limit: int) -> None:
    """Lower the cap for this request before its body is read (a declared length is checked now)."""
    current = scope.get(SCOPE_KEY)
    scope[SCOPE_KEY] = limit if current is None else min(current, limit)
    declared = _declared(scope)
    if declared is not None and declared > scope[SCOPE_KEY]:
        raise ApiError(413, "too_large", too_large_message(scope[SCOPE_KEY], declared))


class BodyLimit:
    """``multipart`` is the cap for multipart bodies (files), ``other`` for the rest."""

    def __init__(self, app: ASGIApp, *, multipart: int, other: int = JSON_LIMIT) -> None:
        self.app = app
        self.multipart = multipart
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = self.multipart if _is_multipart(scope) else self.other
        declared = _declared(scope)
        if declared is not None and declared > scope[SCOPE_KEY]:
            await _refuse(scope, send, too_large_message(scope[SCOPE_KEY], declared))
            return
        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > scope[SCOPE_KEY]:
                    exceeded = True
                    raise BodyTooLarge(scope[SCOPE_KEY])
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app made of the failed read (a parser's 400): ours is the answer
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            log.info("refused %s %s: its body passed %d bytes", scope["method"], scope["path"], received)
            await _refuse(scope, send, too_large_message(scope[SCOPE_KEY]))


async def _refuse(scope: Scope, send: Send, message: str) -> None:
    """The 413; the connection closes, so the rest of the body is never read."""
    response = error_response(413, "too_large", message, {"Connection": "close"})
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == b"multipart/form-data")
    return False


def _declared(scope: MutableMapping[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None
