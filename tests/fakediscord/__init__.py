"""A small fake Discord (REST + gateway + CDN on 127.0.0.1) for end-to-end tests of discord.py bots.

See :class:`FakeDiscord` for the test-facing API and ``fixtures.py`` for pytest integration.
"""

from .payloads import FakeUser
from .rules import Limits
from .server import FakeDiscord
from .state import (
    Callback,
    FakeFile,
    FakeInteraction,
    FakeMessage,
    Fault,
    Mentions,
    MessageVersion,
    MessageWrite,
    RequestRecord,
    Violation,
)

__all__ = [
    "Callback",
    "FakeDiscord",
    "FakeFile",
    "FakeInteraction",
    "FakeMessage",
    "FakeUser",
    "Fault",
    "Limits",
    "Mentions",
    "MessageVersion",
    "MessageWrite",
    "RequestRecord",
    "Violation",
]
