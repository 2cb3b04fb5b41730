"""``python -m bot api``: the HTTP API with no Discord at all (no token needed)."""

from __future__ import annotations

import asyncio
import contextlib

from bot.api.app import Api
from bot.app.services import Services
from bot.app.settings import Settings


async def serve_alone(
    settings: Settings, host: str, port: int, *, ready: asyncio.Event | None = None
) -> None:
    """Open the services, load the models, start the queue and serve until cancelled."""
    services = await Services.open(settings)
    try:
        services.serve_metrics()  # LIKENESS_METRICS_PORT too, when set: GET /metrics is on the API anyway
        await services.load_models()
        api = Api(services)
        await api.start()
        await services.queue.start()
        try:
            await api.serve(host, port, ready=ready)
        finally:
            await api.stop()
    finally:
        await services.close()


def run_alone(settings: Settings, host: str, port: int) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_alone(settings, host, port))
