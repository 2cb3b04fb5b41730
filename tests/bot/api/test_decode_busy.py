"""Uploads past the decode pool: 503 with Retry-After, and nothing kept (no job, character, image, file)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from bot.running.decodes import RETRY_AFTER
from bot.tiny import TinyBundle
from tests.bot.api.harness import api_settings, photo, running_api
from tests.bot.engine.helpers import face_photo


async def test_an_upload_past_the_decode_pool_is_503_with_retry_after(
    tiny_bundle: TinyBundle, data_dir: Path
) -> None:
    settings = api_settings(tiny_bundle, data_dir, decode_workers=1)
    async with running_api(settings) as api:
        key = await api.key(1)
        assert (
            await api.client.post("/v1/characters", json={"name": "Mara"}, headers=key)
        ).status_code == 201
        decodes = api.services.decodes
        decodes.wait = 0.2
        release = threading.Event()
        held = asyncio.create_task(decodes.run(release.wait, 10))  # another upload holds the thread
        try:
            face = {"image": ("face.png", face_photo(1), "image/png")}
            answers = [
                await api.submit(key, photo(), prompt="a fox"),
                await api.client.post("/v1/characters", data={"name": "Nova"}, files=face, headers=key),
                await api.client.post("/v1/characters/Mara/images", files=face, headers=key),
            ]
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == str(RETRY_AFTER)
                error = answer.json()["error"]
                assert error["code"] == "busy" and "busy reading other people's images" in error["message"]
            assert await api.services.jobs.user_jobs(1) == []
            [mara] = await api.services.characters.repo.list(1)
            assert mara.name == "Mara" and mara.image_count == 0
            assert not any((data_dir / "media").rglob("*.*"))
        finally:
            release.set()
            await held
        assert (await api.submit(key, photo(), prompt="a fox")).status_code == 202
