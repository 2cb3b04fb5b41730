"""Every error the bot raises on purpose. Each message is written for the person who made the
request; ``code`` names the kind for programs (the HTTP API's ``error.code``).

``bot.explain`` turns these, and storage's errors, into the text every entry point shows; anything
else is a bug and gets logged with a traceback.
"""

from __future__ import annotations

from typing import ClassVar


class LikenessError(Exception):
    """Base class: ``str(err)`` is safe and useful to show to a user."""

    code: ClassVar[str] = "error"


class InvalidRequest(LikenessError):
    """The request's parameters are out of range or contradict each other."""

    code = "invalid_request"


class BadImage(InvalidRequest):
    """An input image (source, mask or reference) cannot be used."""

    code = "bad_image"


class ModelUnavailable(LikenessError):
    """Weights or face models are missing or unreadable; says where to put them."""

    code = "model_unavailable"


class SettingsInvalid(LikenessError):
    """A setting from the environment or ``.env`` is invalid; names the setting."""

    code = "settings_invalid"


class Cancelled(LikenessError):
    """The job was cancelled by its owner; raised at the next denoising step."""

    code = "cancelled"

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class OutOfMemory(LikenessError):
    """The device ran out of memory for this job; memory was released and the worker goes on."""

    code = "out_of_memory"


class NotAllowed(LikenessError):
    """The job, output or character belongs to someone else (says so without revealing it)."""

    code = "not_allowed"


class Gone(LikenessError):
    """What the request refers to (a job, an output, a source image) no longer exists."""

    code = "not_found"


class NoFaceFound(LikenessError):
    """Fix face found no face in the output to repaint."""

    code = "no_face"

    def __init__(self) -> None:
        super().__init__("no face found in this output to fix: use Vary or Reroll instead")


class CharacterGone(LikenessError):
    """A queued job's character was deleted before the job ran."""

    code = "character_gone"

    def __init__(self) -> None:
        super().__init__("the character for this job was deleted before it ran; nothing was generated")


class CharacterEmpty(LikenessError):
    """Face lock on a character with no reference image: nothing to lock onto, so nothing is generated.

    The text names no character: raised when a job runs, it becomes the job's public failure line,
    and character names are private.
    """

    code = "character_empty"

    def __init__(self) -> None:
        super().__init__(
            "the character has no reference images yet, so there is no face to lock onto: "
            "add a clear photo of the face with /character add"
        )


class ModelsNotLoaded(Exception):
    """The worker could not load the weights; the dispatcher keeps trying (never shown to a user)."""


class WorkerLost(LikenessError):
    """The remote worker running a job died (its process or its node): the queue runs the job again
    once, then fails it, like a job interrupted by a restart of the bot."""

    code = "worker_lost"
