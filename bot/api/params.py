"""The values routes take in their paths and queries, bounded where SQLite can hold them.

SQLite's integers are 64-bit: a larger id reached the database as an ``OverflowError`` (a 500). With
these bounds FastAPI refuses it first, as the API's usual 422, and ``/openapi.json`` says the range.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

SQLITE_MAX = 2**63 - 1  # the largest integer SQLite stores

JobId = Annotated[int, Path(ge=1, le=SQLITE_MAX, description="the job's id", examples=[1])]
OutputIndex = Annotated[
    int,
    Path(
        ge=0, le=SQLITE_MAX, description="the output's 0-based index, as in the job's outputs", examples=[0]
    ),
]
ImageNumber = Annotated[
    int,
    Path(ge=1, le=SQLITE_MAX, description="the image's number in the set (1 is the primary)", examples=[1]),
]
CharacterName = Annotated[
    str, Path(description="one of your characters, by name (any case)", examples=["Mara"])
]
Before = Annotated[
    int | None, Query(ge=1, le=SQLITE_MAX, description="only jobs older than this id (a page's next_before)")
]
Limit = Annotated[int, Query(ge=1, le=100, description="how many jobs a page holds")]

__all__ = ["SQLITE_MAX", "Before", "CharacterName", "ImageNumber", "JobId", "Limit", "OutputIndex"]
