"""Persistence: SQLite rows (``Database``, repositories) and content-addressed media files.

Depends on nothing else in the project (cogs → bot → storage), nor on discord or torch.
"""

from storage.character_rows import CharacterRow, DeletedCharacter, Embedding, ReferenceRow, RefRole
from storage.characters import (
    CharacterChanged,
    CharacterError,
    CharacterNotFound,
    CharacterRepository,
    DuplicateImage,
    InvalidName,
    NameTaken,
    NotFound,
    ReferenceNotFound,
    SetFull,
    TooManyCharacters,
)
from storage.db import Database
from storage.errors import DiskFull, MigrationError, QueueFull, QuotaExceeded, StorageError
from storage.jobs import JobRepository
from storage.media import MediaStore
from storage.rows import (
    CancelOutcome,
    CancelResult,
    JobOrigin,
    JobRow,
    JobStatus,
    NewJob,
    OutputData,
    OutputRow,
    QueueEntry,
)
from storage.users import ForgetReport, UserBusy, forget_user

__all__ = [
    "CancelOutcome",
    "CancelResult",
    "CharacterChanged",
    "CharacterError",
    "CharacterNotFound",
    "CharacterRepository",
    "CharacterRow",
    "Database",
    "DeletedCharacter",
    "DiskFull",
    "DuplicateImage",
    "Embedding",
    "ForgetReport",
    "InvalidName",
    "JobOrigin",
    "JobRepository",
    "JobRow",
    "JobStatus",
    "MediaStore",
    "MigrationError",
    "NameTaken",
    "NewJob",
    "NotFound",
    "OutputData",
    "OutputRow",
    "QueueEntry",
    "QueueFull",
    "QuotaExceeded",
    "RefRole",
    "ReferenceNotFound",
    "ReferenceRow",
    "SetFull",
    "StorageError",
    "TooManyCharacters",
    "UserBusy",
    "forget_user",
]
