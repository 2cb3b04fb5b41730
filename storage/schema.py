"""Schema facts the Python code relies on, kept in one place."""

from __future__ import annotations

# Every (table, column) that holds a media sha256. A media row (and its file) may be deleted only
# when none of these reference it. Add new referencing columns here in the same change as their
# migration; tests/storage checks this against ``PRAGMA foreign_key_list``.
MEDIA_REFERENCES: tuple[tuple[str, str], ...] = (
    ("jobs", "input_media"),
    ("jobs", "mask_media"),
    ("jobs", "structure_media"),
    ("job_outputs", "media"),
    ("reference_images", "media"),
)


def media_unreferenced_sql(alias: str = "media") -> str:
    """SQL condition: the media row ``alias`` is referenced by nothing in MEDIA_REFERENCES.

    Built only from the constants above (identifiers cannot be bound as parameters).
    """
    return " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM {table} WHERE {table}.{column} = {alias}.sha256)"
        for table, column in MEDIA_REFERENCES
    )
