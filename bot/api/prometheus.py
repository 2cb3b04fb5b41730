"""``GET /metrics`` in Prometheus' text format, and the middleware that counts every request.

Who may scrape: metrics show queue sizes, user counts and request rates, never a secret, so the
route is open on the address the API listens on (127.0.0.1 unless ``LIKENESS_API_HOST`` says
otherwise) until ``LIKENESS_METRICS_KEY`` is set; then it takes ``Authorization: Bearer`` that key
and nothing else. Users' API keys do not open it: they act as Discord users, and the metrics are the
operator's. Wrong keys count against the client address like unknown API keys (``FailedAuths``).

Requests are counted by the matched route's path template (``/v1/jobs/{job_id}``): the raw path
would make one series per job."""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api.context import ApiContext
from bot.api.errors import ApiError, error_docs
from bot.metrics.labels import UNMATCHED
from bot.metrics.registry import Metrics

MEDIA_TYPE = CONTENT_TYPE_LATEST.split(";")[0]  # text/plain
# Documents the scheme in /openapi.json; ``_check`` reads the header itself (401 as JSON).
metrics_key = HTTPBearer(
    auto_error=False, scheme_name="MetricsKey", description="LIKENESS_METRICS_KEY, when the operator set one"
)


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(tags=["health"])
    key = ctx.services.settings.metrics_key

    @router.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "description": "every metric in Prometheus' text format (README: Metrics)",
                "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
            },
            **error_docs(401, 429),
        },
        # added to the dependency's {"MetricsKey": []}: a key only when the operator set one
        openapi_extra={"security": [{}]},
    )
    async def metrics(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(metrics_key)]
    ) -> Response:
        """The bot's metrics for Prometheus: jobs, queue, workers, HTTP requests, webhooks. Open
        unless ``LIKENESS_METRICS_KEY`` is set; then only with it as a bearer token."""
        if key is not None:
            _check(request, key, ctx)
        body = await asyncio.to_thread(ctx.services.metrics.exposition)  # reads the queue on this loop
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


def _check(request: Request, key: SecretStr, ctx: ApiContext) -> None:
    failures = ctx.auth.failures
    address = request.client.host if request.client else "unknown"
    locked = failures.wait(address)
    if locked:
        raise ApiError(
            429,
            "rate_limited",
            f"too many wrong keys from your address ({failures.limit} in {failures.window / 60:g} minutes)",
            {"Retry-After": str(math.ceil(locked))},
        )
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip()
    if scheme.lower() == "bearer" and given:
        if hmac.compare_digest(given.encode(), key.get_secret_value().encode()):
            return
        failures.failed(address)
    raise ApiError(
        401,
        "unauthorized",
        "the metrics need the operator's key: send Authorization: Bearer LIKENESS_METRICS_KEY",
        {"WWW-Authenticate": "Bearer"},
    )


class RequestMetrics:
    """Pure ASGI (event streams pass through untouched): each request counted with its status and
    timed to its response's start, once that start is sent; a request that raised before any answer
    is a 500 (Starlette's outer error handler answers it)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        answered = False

        def record(status: int) -> None:
            nonlocal answered
            answered = True
            elapsed = time.perf_counter() - began
            self.metrics.request_answered(scope["method"], route_template(scope), status, elapsed)

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start" and not answered:
                record(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted)
        except Exception:
            if not answered:
                record(500)
            raise


def route_template(scope: Scope) -> str:
    """The matched route's path with its parameters' names (set in the scope by the router)."""
    route: Any = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED
