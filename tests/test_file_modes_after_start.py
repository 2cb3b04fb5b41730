"""Everything written after start is owner-only, under the usual umask 022 that makes plain writes
0644/0755. The policy (``storage.permissions``): the folders Likeness creates are 0700 and its files
0600, and a looser data folder from an older install is tightened when it opens.

The writers: the database with its WAL, SHM and migration lock; the media store (uploads, masks,
references, outputs, structure maps), here filled through the API by every route that stores; the
command line's output folder and images; a Ray worker's copies of a job's files. The bot keeps no log
file (it logs to stderr) and no key file (``api-key create`` prints the key once)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import logs
from bot.cli import main
from bot.jobs import GenerationRequest, Identity
from bot.params import JobParams
from bot.tiny import TinyBundle
from tests.bot.api.harness import api_settings, photo, running_api
from tests.bot.api.receiver import running_receiver
from tests.bot.engine.helpers import box_mask, face_photo, gradient_image, png_bytes, save
from tests.bot.logging_state import fresh_logging


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def loose(root: Path) -> dict[str, str]:
    """Every path under ``root`` (itself included) whose mode is not owner-only."""
    found = {}
    for path in [root, *root.rglob("*")]:
        wanted = 0o700 if path.is_dir() else 0o600
        if mode(path) != wanted:
            found[str(path.relative_to(root.parent))] = oct(mode(path))
    return found


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


async def test_the_data_folder_after_a_run_is_owner_only(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = api_settings(tiny_bundle, data_dir, api_allow_private_urls=True)
    async with running_receiver() as receiver, running_api(settings) as api:
        key = await api.key(1)
        made = await api.client.post(
            "/v1/characters",
            data={"name": "Ivo"},
            files={"image": ("face.png", face_photo(1), "image/png")},
            headers=key,
        )
        assert made.status_code == 201, made.text
        added = await api.client.post(
            "/v1/characters/Ivo/images",
            files={"image": ("b.png", face_photo(1, seed=2), "image/png")},
            headers=key,
        )
        assert added.status_code == 201, added.text
        mask = png_bytes(box_mask(64, 64, (16, 16, 48, 48)))
        inpaint = await api.client.post(
            "/v1/jobs",
            data={"prompt": "a window", "mode": "inpaint", "webhook": f"{receiver.base}/hook"},
            files={"image": ("a.png", photo(), "image/png"), "mask": ("m.png", mask, "image/png")},
            headers=key,
        )
        assert inpaint.status_code == 202, inpaint.text
        receiver.files["src.png"] = png_bytes(gradient_image(96, 64, seed=4))
        by_url = {"prompt": "a tower", "structure": "canny", "image_url": f"{receiver.base}/files/src.png"}
        structure = await api.client.post("/v1/jobs", json=by_url, headers=key)
        assert structure.status_code == 202, structure.text
        for job in (inpaint.json()["id"], structure.json()["id"]):
            assert (await api.wait_for(key, job, "succeeded", "failed"))["status"] == "succeeded"
        await receiver.wait_hooks(2)
        stored = [p for p in (data_dir / "media").rglob("*") if p.is_file()]
        assert len(stored) >= 7  # 2 references, image, mask, source, 2 outputs, map
        names = {p.name for p in data_dir.iterdir()}
        assert {"likeness.sqlite3", "likeness.sqlite3-wal", "likeness.sqlite3-shm", "media"} <= names
        assert any(n.endswith(".migrate.lock") for n in names)
        assert loose(data_dir) == {}  # while it runs
    assert loose(data_dir) == {}  # and once it has stopped


def test_command_line_outputs_are_owner_only(tiny_bundle: TinyBundle, tmp_path: Path) -> None:
    out = tmp_path / "made" / "here"
    source = save(gradient_image(64, 64), tmp_path / "in.png")
    env = ["--env-file", str(tiny_bundle.env_file)]
    assert (
        main(
            [
                *env,
                "generate",
                "--image",
                str(source),
                "--prompt",
                "x",
                "--structure",
                "canny",
                "--steps",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert len(list(out.iterdir())) == 2  # the output and its structure map
    assert loose(tmp_path / "made") == {}


def test_a_ray_workers_copies_of_a_jobs_files_are_owner_only(tmp_path: Path) -> None:
    from bot.running.ray_actor import Payload, _local_request

    folder = tmp_path / "job"
    folder.mkdir(mode=0o700)
    request = GenerationRequest(JobParams(prompt="x"), identity=Identity((b"\0" * 2048,)))
    files = (photo(), "png")
    local = _local_request(Payload(request, files, files, files), folder)
    written = [local.image, local.mask, local.identity.primary if local.identity else None]
    assert all(p is not None and p.read_bytes() == photo() for p in written)
    assert loose(folder) == {}


def test_logging_writes_no_file(tmp_path: Path) -> None:
    with fresh_logging():
        logs.configure(logging.DEBUG)
        handlers = logging.getLogger().handlers
        assert handlers and not [h for h in handlers if isinstance(h, logging.FileHandler)]
