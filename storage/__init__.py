"""Persistence: SQLite rows (``Database``, repositories) and content-addressed media files.

Depends on nothing else in the project (cogs → bot → storage), nor on discord or torch.
"""

from storage.api_keys import ApiKeyRepository, ApiKeyRow
from storage.bans import EVERYWHERE, BanRepository, BanRow
from storage.character_rows import CharacterRow, DeletedCharacter, Embedding, ReferenceRow, RefRole
from storage.characters import DEFAULT_MAX_IMAGES, MAX_NAME_CHARS, CharacterRepository
from storage.daily import DailyCap, utc_day
from storage.db import Database
from storage.errors import (
    CharacterChanged,
    CharacterError,
    CharacterNotFound,
    DailyQuotaReached,
    DiskFull,
    DuplicateImage,
    InvalidName,
    LockTimeout,
    MigrationError,
    NameTaken,
    NotFound,
    QueueFull,
    QuotaExceeded,
    ReferenceNotFound,
    SetFull,
    StorageError,
    TooManyCharacters,
    UserBusy,
)
from storage.guilds import GuildSettingsRepository
from storage.jobs import JobRepository
from storage.media import MediaStore
from storage.rows import (
    ACTIVE_STATUSES,
    CancelOutcome,
    CancelResult,
    JobOrigin,
    JobRow,
    JobStatus,
    NewJob,
    OutputData,
    OutputRow,
    ParamsCodec,
    QueueEntry,
)
from storage.users import ForgetReport, forget_user
from storage.webhooks import WebhookDelivery, WebhookOutbox

__all__ = [
    "ACTIVE_STATUSES",
    "DEFAULT_MAX_IMAGES",
    "EVERYWHERE",
    "MAX_NAME_CHARS",
    "ApiKeyRepository",
    "ApiKeyRow",
    "BanRepository",
    "BanRow",
    "CancelOutcome",
    "CancelResult",
    "CharacterChanged",
    "CharacterError",
    "CharacterNotFound",
    "CharacterRepository",
    "CharacterRow",
    "DailyCap",
    "DailyQuotaReached",
    "Database",
    "DeletedCharacter",
    "DiskFull",
    "DuplicateImage",
    "Embedding",
    "ForgetReport",
    "GuildSettingsRepository",
    "InvalidName",
    "JobOrigin",
    "JobRepository",
    "JobRow",
    "JobStatus",
    "LockTimeout",
    "MediaStore",
    "MigrationError",
    "NameTaken",
    "NewJob",
    "NotFound",
    "OutputData",
    "OutputRow",
    "ParamsCodec",
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
    "WebhookDelivery",
    "WebhookOutbox",
    "forget_user",
    "utc_day",
]
