"""A server's prompt blocklist: words, matched whole and in any letter case, or regular expressions
written between slashes (``/nud(e|ity)/``). An entry is compiled when it is added, so a pattern
that does not compile is refused then rather than failing every later job."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.errors import Blocked, InvalidRequest

MAX_ENTRY = 200
MAX_ENTRIES = 200


def compile_entry(entry: str) -> re.Pattern[str]:
    """The entry as a pattern; ``InvalidRequest`` saying why a regular expression is not one."""
    text = entry.strip()
    if not text:
        raise InvalidRequest("a blocklist entry is a word or a /pattern/: this one is empty")
    if len(text) > MAX_ENTRY:
        raise InvalidRequest(f"a blocklist entry is at most {MAX_ENTRY} characters (this one is {len(text)})")
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        try:
            pattern = re.compile(text[1:-1], re.IGNORECASE)
        except re.error as exc:
            raise InvalidRequest(
                f"that blocklist pattern is not a valid regular expression ({exc.msg}"
                + (f" at position {exc.pos}" if exc.pos is not None else "")
                + "): nothing was added"
            ) from None
        if pattern.search(""):
            raise InvalidRequest(
                "that blocklist pattern matches an empty prompt, so it would block every job"
            )
        return pattern
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)", re.IGNORECASE)


def check_text(entries: Iterable[str], prompt: str, negative: str) -> None:
    """``Blocked`` when an entry matches the prompt or the negative; the message names which of the
    two, never the entry or what it matched."""
    patterns = [compile_entry(entry) for entry in entries]
    for text, what in ((prompt, "prompt"), (negative, "negative prompt")):
        if any(p.search(text) for p in patterns):
            raise Blocked(what)
