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


class JobNotFound(Gone):
    """A job id that is not one of the caller's: missing, deleted, or someone else's, which reads
    the same in every entry point (the API's 404), so job ids reveal nothing of other users."""

    def __init__(self, job_id: int, action: str | None = None) -> None:
        self.job_id = job_id
        owner = f": only a job's owner can {action} it" if action else ""
        super().__init__(f"you have no job {job_id}{owner}")


class JobQueued(LikenessError):
    """Deleting a job that has not run yet: cancel it first (Delete removes finished jobs only)."""

    code = "job_queued"

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} is still in the queue: cancel it first, then delete it")


class JobRunning(LikenessError):
    """Deleting a job while the worker runs it: its files are being read and its results written."""

    code = "job_running"

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} is running: cancel it first, then delete it")


class JobFinished(LikenessError):
    """Cancelling a job that has already ended."""

    code = "already_finished"

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} has already finished")


class ReferenceRefused(InvalidRequest):
    """An image was not added to a reference set (no usable face, another person, …): the reason."""

    code = "reference_refused"


class FaceLockUnavailable(LikenessError):
    """A face-locked job on a bot that has no face analysis (set up without one, or it was turned off
    after the job was queued)."""

    code = "face_lock_unavailable"

    def __init__(self) -> None:
        super().__init__("face lock is not available on this bot: generate without a character")


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


class Busy(LikenessError):
    """Too many uploads are being decoded at once (``bot.running.decodes``): nothing was stored."""

    code = "busy"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            "the bot is busy reading other people's images: nothing was kept, "
            f"send it again in {retry_after} seconds"
        )


class ModelsNotLoaded(Exception):
    """The worker could not load the weights; the dispatcher keeps trying (never shown to a user)."""


class WorkerLost(LikenessError):
    """The remote worker running a job died (its process or its node): the queue runs the job again
    once, then fails it, like a job interrupted by a restart of the bot."""

    code = "worker_lost"


class Banned(LikenessError):
    """The member is banned from the bot here (in this server, or everywhere by the bot's owner):
    every command, button and API key of theirs is refused with the ban's reason."""

    code = "banned"


class Blocked(InvalidRequest):
    """The prompt or the negative holds something this server blocks; the message never repeats it
    (it would post the word back, and tell a user how to get around the pattern)."""

    code = "blocked"

    def __init__(self, what: str) -> None:
        self.what = what  # "prompt" or "negative prompt"
        super().__init__(
            f"your {what} contains something this server's blocklist does not allow: "
            "rephrase it and try again"
        )
