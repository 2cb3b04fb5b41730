"""Compressed bombs through the API: a job's multipart image and mask, its ``image_url``, a character's
image. Each is refused (400) with the size it claims, before its pixels are decoded or its canvas
reserved, and nothing is stored: no job, no character, no media file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.tiny import TinyBundle
from tests.bot.api.harness import ApiHarness, api_settings, photo, running_api
from tests.bot.api.receiver import running_receiver
from tests.bot.engine.bombs import BOMBS, refusal, spying


async def nothing_stored(api: ApiHarness, data_dir: Path) -> None:
    assert await api.services.db.fetchall("SELECT id FROM jobs") == []
    assert await api.services.db.fetchall("SELECT id FROM characters") == []
    assert [p for p in (data_dir / "media").rglob("*") if p.is_file()] == []


def refused(response: httpx.Response, size: str, what: str = "image") -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {"code": "bad_image", "message": refusal(size, what)}


async def test_bombs_through_multipart_and_urls(
    tiny_bundle: TinyBundle, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = api_settings(tiny_bundle, data_dir, api_allow_private_urls=True)
    async with running_receiver() as receiver, running_api(settings, start_queue=False) as api:
        key = await api.key(1)
        with spying(monkeypatch) as spies:
            for name, (make, size) in BOMBS.items():
                data = make()
                refused(await api.submit(key, data, prompt="a bomb"), size)
                masked = await api.client.post(
                    "/v1/jobs",
                    data={"prompt": "a bomb", "mode": "inpaint"},
                    files={"image": ("a.png", photo(), "image/png"), "mask": ("m.png", data, "image/png")},
                    headers=key,
                )
                refused(masked, size, "mask")
                receiver.files[name] = data
                url = f"{receiver.base}/files/{name}"
                by_url = await api.client.post(
                    "/v1/jobs", json={"prompt": "x", "image_url": url}, headers=key
                )
                refused(by_url, size)
                character = await api.client.post(
                    "/v1/characters",
                    data={"name": "Bomb"},
                    files={"image": ("face.png", data, "image/png")},
                    headers=key,
                )
                refused(character, size, "reference")
                await nothing_stored(api, data_dir)
        assert not spies.bomb_touched, spies
