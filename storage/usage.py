"""What a user stores: the check behind the per-user storage quota.

A user stores every media file their rows reference, each file once however many of their rows
use it; a file two users share counts for each. ``storage.schema.MEDIA_REFERENCES`` is the list of
referencing columns and ``storage.users.USER_MEDIA`` the per-user query for each, so a new media
column cannot be left out of the quota (importing fails without its query).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from storage.db import Database
from storage.errors import QuotaExceeded
from storage.schema import MEDIA_REFERENCES
from storage.users import USER_MEDIA

NewFile = tuple[str, int]  # (sha256, size) of a file about to be stored

_MINE = " UNION ".join(USER_MEDIA[ref] for ref in MEDIA_REFERENCES)
# The user's stored bytes, and which of :new (a JSON list of shas) they already store.
_USAGE = f"""
WITH mine(sha) AS ({_MINE})
SELECT (SELECT COALESCE(SUM(size), 0) FROM media WHERE sha256 IN (SELECT sha FROM mine)) AS stored,
       (SELECT json_group_array(sha) FROM mine WHERE sha IN (SELECT value FROM json_each(:new))) AS owned
"""


def new_files(specs: Sequence[tuple[bytes, str]]) -> list[NewFile]:
    """(sha256, size) of files about to be written, for a quota check before writing them."""
    return [(hashlib.sha256(data).hexdigest(), len(data)) for data, _ in specs]


async def stored_bytes(db: Database, user_id: int) -> int:
    """Bytes of media the user's rows reference."""
    row = await db.fetchone(_USAGE, {"user": user_id, "new": "[]"})
    return int(row[0]) if row is not None else 0


async def check_quota(db: Database, user_id: int, new: Sequence[NewFile], limit: int | None) -> None:
    """Raise ``QuotaExceeded`` when the user's stored bytes plus the ``new`` files they do not
    already store would exceed ``limit`` (None: no quota). Call it inside the transaction that
    inserts the rows for the authoritative answer; outside it only as an early, cheap refusal."""
    if limit is None:
        return
    shas = sorted({sha for sha, _ in new})
    row = await db.fetchone(_USAGE, {"user": user_id, "new": json.dumps(shas)})
    assert row is not None
    stored, owned = int(row["stored"]), set(json.loads(row["owned"]))
    adding = sum(size for sha, size in dict(new).items() if sha not in owned)
    if stored + adding > limit:
        raise QuotaExceeded(limit, stored, adding)
