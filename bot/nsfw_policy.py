"""Where an output the NSFW check flagged may be shown: one pure decision, no I/O.

Discord allows age-restricted content only in channels it marks age-restricted (``nsfw``), so a
flagged image is posted in those and withheld everywhere else in a server; direct messages follow
the bot-wide ``LIKENESS_NSFW_DMS``; an API key gets flagged outputs only when its owner allowed it.
A server's own setting (``ServerNsfw``) can only narrow that, never open a normal channel. Every
surface (the result message, its buttons, Info, the API's job view and download) asks ``decide``, so
they cannot disagree. An output nobody checked (``score`` None: the check is off) is never flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_THRESHOLD = 0.5


class ServerNsfw(StrEnum):
    """A server's choice for flagged images in its channels."""

    AGE_RESTRICTED = "age_restricted"  # only in channels Discord marks age-restricted (the default)
    NEVER = "never"  # nowhere in this server, age-restricted channels included


@dataclass(frozen=True, slots=True)
class GuildChannel:
    """A channel of a server; ``age_restricted`` is Discord's ``nsfw`` flag (a thread: its parent's)."""

    age_restricted: bool


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """A DM with the bot (or any channel outside a server)."""


@dataclass(frozen=True, slots=True)
class ApiKeyPlace:
    """The HTTP API, as the key asking: ``allows_nsfw`` is the flag its owner set on it."""

    allows_nsfw: bool


Place = GuildChannel | DirectMessage | ApiKeyPlace


@dataclass(frozen=True, slots=True)
class NsfwPolicy:
    """``threshold``: a score at or above it is flagged. ``direct_messages``: whether DMs get flagged
    images (bot-wide). ``server``: the server's own choice (per-server settings feed it)."""

    threshold: float = DEFAULT_THRESHOLD
    direct_messages: bool = False
    server: ServerNsfw = ServerNsfw.AGE_RESTRICTED

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"the NSFW threshold must be in (0, 1], not {self.threshold}")

    def flagged(self, score: float | None) -> bool:
        return score is not None and score >= self.threshold

    def for_server(self, server: ServerNsfw) -> NsfwPolicy:
        return NsfwPolicy(self.threshold, self.direct_messages, server)


@dataclass(frozen=True, slots=True)
class Decision:
    """Post or withhold; ``reason`` says why a flagged image was withheld here (None when posted)."""

    post: bool
    reason: str | None = None


POST = Decision(True)


def decide(flagged: bool, place: Place, policy: NsfwPolicy) -> Decision:
    """Whether an output goes out at ``place``: an unflagged one always does."""
    if not flagged:
        return POST
    match place:
        case GuildChannel(age_restricted=restricted):
            if policy.server is ServerNsfw.NEVER:
                return Decision(False, "this server allows no images flagged NSFW")
            if not restricted:
                return Decision(
                    False, "this channel is not age-restricted (only age-restricted channels get them)"
                )
            return POST
        case DirectMessage():
            if not policy.direct_messages:
                return Decision(False, "the bot sends no images flagged NSFW in direct messages")
            return POST
        case ApiKeyPlace(allows_nsfw=allowed):
            if not allowed:
                return Decision(False, "this API key does not allow images flagged NSFW")
            return POST


def withheld_note(withheld: int, total: int, reason: str) -> str:
    """The line a result carries for what it left out: how many, and why."""
    images = "image" if total == 1 else "images"
    verb = "was" if withheld == 1 else "were"
    return f"{withheld} of {total} {images} {verb} withheld: flagged NSFW, and {reason}."
