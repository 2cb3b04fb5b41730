"""The one mapper from errors to what users read: storage's facts become the bot's words."""

from __future__ import annotations

import pytest

from bot.errors import BadImage, Cancelled, CharacterEmpty, ModelUnavailable, NotAllowed
from bot.explain import Explained, bug_message, explain
from storage import (
    CharacterChanged,
    CharacterNotFound,
    DiskFull,
    DuplicateImage,
    InvalidName,
    MigrationError,
    NameTaken,
    QueueFull,
    QuotaExceeded,
    ReferenceNotFound,
    SetFull,
    TooManyCharacters,
    UserBusy,
)

MB = 2**20


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            QueueFull("user", 3, 3),
            "queue_full",
            "you already have 3 jobs waiting or running (the limit is 3): "
            "wait for one to finish or /cancel one",
        ),
        (QueueFull("user", 3, 1), "queue_full", "you already have 1 job waiting or running"),
        (
            QueueFull("user", 3, 2, 1),
            "queue_full",
            "you already have 2 jobs waiting or running and 1 face "
            "analysis in progress (the limit is 3 in all): wait for one to finish or /cancel a job",
        ),
        (QueueFull("user", 4, 1, 2), "queue_full", "and 2 face analyses in progress"),
        (QueueFull("total", 50, 50), "queue_full", "the queue is full (50 jobs waiting): try again in a few"),
        (
            QuotaExceeded(500 * MB, 499 * MB, 2 * MB),
            "quota_exceeded",
            "this would bring the images you store "
            "to 501 MB, over this bot's limit of 500 MB per user: delete old results",
        ),
        (QuotaExceeded(500 * MB, 501 * MB, 0), "quota_exceeded", "you store 501 MB of images, over"),
        (
            DiskFull(100 * MB, 1024 * MB),
            "disk_full",
            "the bot's disk has only 100 MB free, under its floor of "
            "1024 MB: nothing new can be stored until the operator frees space",
        ),
        (
            DiskFull(2000 * MB, 1024 * MB),
            "disk_full",
            "has 2000 MB free, and storing this would take it under",
        ),
        (
            UserBusy([4]),
            "user_busy",
            "your job #4 is still running: cancel it or let it finish, then try again",
        ),
        (UserBusy([4, 7]), "user_busy", "your jobs #4, #7 are still running: cancel them"),
        (
            CharacterNotFound("Mara"),
            "not_found",
            "you have no character called “Mara”: /character list shows",
        ),
        (CharacterNotFound(), "not_found", "that character doesn't exist any more"),
        (ReferenceNotFound("Mara", 3, 5), "not_found", "“Mara” has no image number 5 (it has 3)"),
        (ReferenceNotFound("Mara", 3), "not_found", "that image is no longer part of “Mara”"),
        (InvalidName("length", 32), "invalid_request", "a character name must be 1–32 characters long"),
        (InvalidName("control", 32), "invalid_request", "a character name can't contain line breaks"),
        (NameTaken("Mara"), "name_taken", "you already have a character called “Mara”"),
        (TooManyCharacters(25), "too_many_characters", "you already have 25 characters, the most allowed: "),
        (SetFull("Mara", 20), "set_full", "“Mara” already has 20 images, the most a character can have"),
        (DuplicateImage("Mara", 2), "duplicate_image", "that image is already in “Mara” (number 2)"),
        (CharacterChanged("Mara"), "character_changed", "“Mara” changed while this was being worked on: try"),
    ],
)
def test_storage_facts_become_one_voice(error: Exception, code: str, message: str) -> None:
    explained = explain(error)
    assert explained is not None and explained.code == code
    assert message in explained.message
    assert not explained.message[0].isupper() and not explained.message.endswith(".")


def test_the_bots_own_errors_keep_their_words_and_name_their_kind() -> None:
    assert explain(BadImage("the image is empty")) == Explained("bad_image", "the image is empty")
    assert explain(NotAllowed("not yours")) == Explained("not_allowed", "not yours")
    assert explain(Cancelled()) == Explained("cancelled", "cancelled")
    assert explain(ModelUnavailable("missing")) is not None
    assert explain(CharacterEmpty()) == Explained("character_empty", str(CharacterEmpty()))


@pytest.mark.parametrize("bug", [RuntimeError("boom"), KeyError("x"), MigrationError("0009.sql", "broken")])
def test_anything_else_is_a_bug(bug: Exception) -> None:
    assert explain(bug) is None
    assert bug_message(123) == "something went wrong on our side (reference 123); it has been logged"
