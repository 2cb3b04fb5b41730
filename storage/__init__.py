"""Persistence: SQLite rows (``Database``, repositories) and content-addressed media files.

Depends on nothing else in the project (cogs → bot → storage), nor on discord or torch.
"""

from storage.db import Database
from storage.errors import MigrationError, QueueFull, StorageError
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

__all__ = [
    "CancelOutcome",
    "CancelResult",
    "Database",
    "JobOrigin",
    "JobRepository",
    "JobRow",
    "JobStatus",
    "MediaStore",
    "MigrationError",
    "NewJob",
    "OutputData",
    "OutputRow",
    "QueueEntry",
    "QueueFull",
    "StorageError",
]
