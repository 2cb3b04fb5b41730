"""MediaStore: content addressing, atomic writes, pins and the orphan sweep."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from storage import MediaStore
from tests.storage.helpers import media_files


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")  # durable: exercises fsync of file and folder
    sha = store.put(b"hello", ".PNG")
    assert sha == hashlib.sha256(b"hello").hexdigest()
    path = store.path(sha, "png")
    assert path == tmp_path / "media" / sha[:2] / f"{sha}.png"
    assert store.read(sha, "png") == b"hello"
    assert store.put(b"hello", "png") == sha
    assert media_files(store) == {path}  # one file, no temp files left behind
    assert not store.is_pinned(sha)


def test_pin_put_reports_whether_it_created_the_file(media: MediaStore) -> None:
    first = media.pin_put(b"x", "png")
    second = media.pin_put(b"x", "png")
    assert (first.created, second.created) == (True, False)
    assert media.is_pinned(first.sha256)
    assert not media.remove_unpinned(first.sha256, "png")
    media.unpin(first.sha256)
    media.unpin(first.sha256)
    assert media.remove_unpinned(first.sha256, "png")
    assert not media.exists(first.sha256, "png")


@pytest.mark.parametrize("ext", ["", "p/ng", "..", "a" * 11, "pn g"])
def test_bad_extensions_are_rejected(media: MediaStore, ext: str) -> None:
    with pytest.raises(ValueError, match="extension"):
        media.put(b"x", ext)


def test_bad_sha_is_rejected(media: MediaStore) -> None:
    with pytest.raises(ValueError, match="sha256"):
        media.path("../../etc/passwd", "png")


def test_unlink_of_a_missing_file_is_fine(media: MediaStore) -> None:
    """Deleting is idempotent: a file already gone raises nothing, and the others stay."""
    kept = media.put(b"kept", "png")
    gone = media.put(b"gone", "png")
    media.unlink(gone, "png")
    media.unlink(gone, "png")  # a second delete of the same file
    media.unlink("a" * 64, "png")  # one that never existed
    assert media_files(media) == {media.path(kept, "png")}


def test_failed_write_leaves_no_file_and_no_pin(media: MediaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        media.put(b"data", "png")
    assert media_files(media) == set()
    assert not media.is_pinned(hashlib.sha256(b"data").hexdigest())


def test_sweep_orphans_only_takes_old_unknown_unpinned_files(media: MediaStore) -> None:
    known = media.put(b"known", "png")
    old_orphan = media.put(b"old orphan", "png")
    new_orphan = media.put(b"new orphan", "png")
    pinned = media.pin_put(b"pinned orphan", "png").sha256
    stale_tmp = media.root / known[:2] / f".{known}.png.abc.tmp"
    fresh_tmp = media.root / known[:2] / f".{known}.png.def.tmp"
    stranger = media.root / known[:2] / "README"
    for path in (stale_tmp, fresh_tmp, stranger):
        path.write_bytes(b"")
    for path in (
        media.path(known, "png"),
        media.path(old_orphan, "png"),
        media.path(pinned, "png"),
        stale_tmp,
        stranger,
    ):
        age(path, 3600)

    removed = media.sweep_orphans({known}, older_than=600)

    assert set(removed) == {media.path(old_orphan, "png"), stale_tmp}
    left = media_files(media)
    assert media.path(known, "png") in left and media.path(new_orphan, "png") in left
    assert media.path(pinned, "png") in left and fresh_tmp in left and stranger in left


def test_sweep_orphans_on_a_missing_root(tmp_path: Path) -> None:
    assert MediaStore(tmp_path / "nothing").sweep_orphans(set()) == []
