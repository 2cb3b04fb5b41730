"""The real API app on the real services (tiny bundle), driven through httpx; helpers the API tests share."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from bot.api.app import Api
from bot.app.services import Services
from bot.app.settings import Settings, load_settings
from bot.tiny import TinyBundle
from tests.bot.engine.helpers import gradient_image, png_bytes

BASE = "http://likeness.test"


def api_settings(bundle: TinyBundle, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"data_dir": data_dir, "default_steps": 4, "api_port": 8765}
    values.update(overrides)
    return load_settings(bundle.env_file, **values)


@dataclass
class ApiHarness:
    services: Services
    api: Api
    client: httpx.AsyncClient

    async def key(self, user_id: int, name: str = "") -> dict[str, str]:
        """Authorization headers for a new key of ``user_id``."""
        new = await self.services.keys.create(user_id, name)
        return {"Authorization": f"Bearer {new.key}"}

    async def submit(
        self, headers: dict[str, str], image: bytes | None = None, **fields: Any
    ) -> httpx.Response:
        data = {k: str(v) for k, v in fields.items()}
        files = {"image": ("photo.png", image, "image/png")} if image is not None else None
        if files is None:
            return await self.client.post("/v1/jobs", json=fields, headers=headers)
        return await self.client.post("/v1/jobs", data=data, files=files, headers=headers)

    async def wait_for(
        self, headers: dict[str, str], job_id: int, *states: str, timeout: float = 60
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                response = await self.client.get(f"/v1/jobs/{job_id}", headers=headers)
                body = response.json()
                if body.get("status") in states:
                    return body
                await asyncio.sleep(0.05)

    async def webhook_settled(self, job_id: int, event: str, timeout: float = 30) -> dict[str, Any]:
        """The outbox row once delivered or given up: the receiver sees a hook before the sender
        has recorded the answer, so reading the row at once races the sender."""
        async with asyncio.timeout(timeout):
            while True:
                state = await self.services.webhooks.get(job_id, event)
                if state is not None and (state["delivered_at"] or state["gave_up_at"]):
                    return state
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_api(settings: Settings, *, start_queue: bool = True) -> AsyncIterator[ApiHarness]:
    """``python -m bot api`` as it composes it, with httpx in place of a socket."""
    services = await Services.open(settings)
    try:
        await services.load_models()
        api = Api(services, webhook_base_delay=0.05)
        await api.start()
        if start_queue:
            await services.queue.start()
        try:
            transport = httpx.ASGITransport(app=api.app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as client:
                yield ApiHarness(services, api, client)
        finally:
            await api.stop()
    finally:
        await services.close()


def photo(side: int = 64) -> bytes:
    return png_bytes(gradient_image(side, side))


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
