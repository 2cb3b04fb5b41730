"""Domain errors. Every message is written for the person who made the request.

The Discord error handler and the command line turn these into one line of text;
anything that is not a ``LikenessError`` is a bug and gets logged with a traceback.
"""

from __future__ import annotations


class LikenessError(Exception):
    """Base class: ``str(err)`` is safe and useful to show to a user."""


class InvalidRequest(LikenessError):
    """The request's parameters are out of range or contradict each other."""


class BadImage(InvalidRequest):
    """An input image (source, mask or reference) cannot be used."""


class ModelUnavailable(LikenessError):
    """Weights or face models are missing or unreadable; says where to put them."""


class SettingsInvalid(LikenessError):
    """A setting from the environment or ``.env`` is invalid; names the setting."""


class Cancelled(LikenessError):
    """The job was cancelled by its owner; raised at the next denoising step."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class OutOfMemory(LikenessError):
    """The device ran out of memory for this job; memory was released and the worker goes on."""


class QueueLimit(LikenessError):
    """A per-user or global queue limit was reached; nothing was enqueued."""


class NotAllowed(LikenessError):
    """The job, output or character belongs to someone else (says so without revealing it)."""
