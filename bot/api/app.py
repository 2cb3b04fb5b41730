"""The FastAPI app and its life on the bot's event loop: the queue's listener, the webhook sender,
the HTTP client for URLs. ``Api`` is built from the bot's ``Services``; ``serve`` runs uvicorn as a
task of the running loop (beside Discord, or alone)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator
from types import SimpleNamespace
from typing import Any, cast

import httpx
import uvicorn
from fastapi import FastAPI, Request

from bot.api import characters, jobs, me, models, prometheus
from bot.api.auth import Authenticator
from bot.api.body_limit import BodyLimit
from bot.api.context import ApiContext
from bot.api.errors import error_docs, install
from bot.api.events import ApiEvents
from bot.api.limits import FailedAuths, RateLimit
from bot.api.prometheus import RequestMetrics
from bot.api.schemas import Health, Worker
from bot.api.uploads import MULTIPART_LIMIT
from bot.api.urls import TIMEOUT, UrlPolicy
from bot.api.views import JobViews
from bot.api.webhooks import WebhookSender
from bot.app.services import Services
from bot.app.settings import Settings
from bot.metrics.registry import Metrics
from bot.metrics.server import is_loopback

log = logging.getLogger(__name__)

STOP_GRACE = 20.0  # seconds the webhooks being sent may take to finish when the API stops (> their DEADLINE)


class Api:
    def __init__(self, services: Services, *, webhook_base_delay: float = 5.0) -> None:
        settings = services.settings
        policy = UrlPolicy(allow_private=settings.api_allow_private_urls)
        client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        views = JobViews(services.queue, settings.api_base_url, lambda: services.nsfw)
        sender = WebhookSender(
            services.webhooks,
            client,
            policy,
            max_tries=settings.webhook_max_tries,
            base_delay=webhook_base_delay,
            on_outcome=services.metrics.webhook_tried,
        )
        self.services = services
        self.sender = sender
        self.ctx = ApiContext(
            services=services,
            views=views,
            events=ApiEvents(views, services.webhooks, sender, services.keys.allows_nsfw),
            auth=Authenticator(
                services.keys,
                RateLimit(settings.api_rate_limit),
                RateLimit(settings.api_user_rate_limit),
                FailedAuths(settings.api_auth_failures),
                services.guilds,
            ),
            client=client,
            policy=policy,
        )
        self.app = build_app(self.ctx)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Listen to the queue, queue the webhooks missed while stopped, start sending."""
        self.services.queue.listeners.append(self.ctx.events)
        await self.ctx.events.recover()
        self._tasks.append(asyncio.create_task(self.sender.run(), name="likeness-webhooks"))

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.services.queue.listeners.remove(self.ctx.events)
        self.sender.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_GRACE)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.ctx.client.aclose()

    async def serve(self, host: str, port: int, *, ready: asyncio.Event | None = None) -> None:
        """uvicorn on this loop until cancelled; Ctrl-C stays the bot's to handle."""
        config = uvicorn.Config(
            self.app, host=host, port=port, log_config=None, lifespan="off", access_log=False
        )
        if self.services.settings.metrics_key is None and not is_loopback(host):
            log.warning(
                "GET /metrics is open to whoever reaches %s: set LIKENESS_METRICS_KEY to need a key", host
            )
        server = _Server(config)
        task = asyncio.create_task(server.serve(), name="likeness-api")
        try:
            while not server.started:
                if task.done():
                    task.result()
                    raise OSError(f"the API could not listen on {host}:{port}")
                await asyncio.sleep(0.02)
            log.info("HTTP API on http://%s:%d (docs at /docs)", host, port)
            if ready is not None:
                ready.set()
            await task
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await task


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the bot's process decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def build_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Likeness",
        summary="Reference-guided image generation: the bot's queue, characters and face lock over HTTP",
        version="1",
    )
    app.state.api = ctx
    app.add_middleware(BodyLimit, multipart=MULTIPART_LIMIT)
    app.add_middleware(RequestMetrics, metrics=ctx.services.metrics)  # outermost: sees BodyLimit's 413s too
    install(app, ctx.retry_after)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return as_openapi_31(generate())

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(jobs.build_router(ctx))
    app.include_router(characters.build_router(ctx))
    app.include_router(me.build_router(ctx))
    app.include_router(models.build_router(ctx))
    app.include_router(prometheus.build_router(ctx))

    @app.get(
        "/v1/health",
        response_model=Health,
        tags=["health"],
        responses=error_docs(401, 429, 500),
        openapi_extra={"security": [{}, {"HTTPBearer": []}]},  # a key is optional here
    )
    async def health(request: Request) -> Health:
        """No key needed: whether the model is loaded and the worker takes jobs, the queue's length and
        the workers counted. With a key (a wrong one is 401), also why the worker is down and each
        worker by name with its error: those name hosts, processes and paths."""
        detailed = "authorization" in request.headers
        if detailed:
            await ctx.auth(request)
        queue = ctx.services.queue
        status = await queue.status()
        down = queue.health
        loaded = ctx.services.runner.loaded
        states = ctx.services.runner.states()
        return Health(
            ok=loaded and down is None,
            model_loaded=loaded,
            worker_alive=down is None,
            queue_length=status.length,
            workers_ready=sum(1 for w in states if w.ready),
            workers_total=len(states),
            worker_down_reason=down.reason if detailed and down is not None else None,
            workers=[Worker(name=w.name, ready=w.ready, busy=w.busy, error=w.error) for w in states]
            if detailed
            else None,
        )

    return app


def openapi_document() -> dict[str, Any]:
    """``/openapi.json`` without a running bot, for the docs site: the routes read their context
    only when called; what building reads (the metrics middleware's registry, the settings, the
    busy answer's ``retry_after``) is blank or the defaults here."""
    services = SimpleNamespace(metrics=Metrics(), settings=Settings.model_construct())
    blank = SimpleNamespace(services=services, retry_after=None)
    return build_app(cast(ApiContext, blank)).openapi()


def as_openapi_31(doc: dict[str, Any]) -> dict[str, Any]:
    """FastAPI writes an event stream's ``itemSchema`` (OpenAPI 3.2) in a document that says 3.1.
    In 3.1 the stream's ``schema`` describes one event: keep the route's own, else FastAPI's."""
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                for media_type, content in response.get("content", {}).items():
                    if media_type == "text/event-stream" and "itemSchema" in content:
                        item = content.pop("itemSchema")
                        content.setdefault("schema", item)
    return doc
