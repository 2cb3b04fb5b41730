"""Every error as JSON ``{"error": {"code", "message"}}``, with the words Discord users read.

``bot.explain`` writes the message; this module only picks the HTTP status for its code. Anything
``explain`` does not know is a bug: logged with a reference, answered 500 without details.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from bot.api.schemas import ErrorBody
from bot.errors import Busy, LikenessError
from bot.explain import bug_message, explain
from storage import DailyQuotaReached, StorageError

log = logging.getLogger(__name__)

STATUS: Mapping[str, int] = {
    "invalid_request": 422,
    "bad_image": 400,
    "no_face": 422,
    "character_empty": 422,
    "not_found": 404,
    "character_gone": 404,
    "not_allowed": 403,
    "banned": 403,
    "blocked": 422,
    "daily_quota": 429,
    "queue_full": 429,
    "quota_exceeded": 429,
    "rate_limited": 429,
    "disk_full": 507,
    "user_busy": 409,
    "name_taken": 409,
    "duplicate_image": 409,
    "character_changed": 409,
    "too_many_characters": 409,
    "set_full": 409,
    "cancelled": 409,
    "job_queued": 409,
    "job_running": 409,
    "already_finished": 409,
    "reference_refused": 422,
    "face_lock_unavailable": 503,
    "model_unavailable": 503,
    "out_of_memory": 503,
    "busy": 503,
    "unauthorized": 401,
}
HTTP_CODES: Mapping[int, str] = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}

# What each error status means, for /openapi.json (``responses=error_docs(...)`` on a route).
MEANINGS: Mapping[int, str] = {
    400: "the request could not be read: a body that is not JSON, a file that is not an image",
    401: "no API key, or an unknown or revoked one",
    403: "not yours to have: an output the NSFW check flagged, for a key that does not allow them",
    404: "there is no such job, output, character or image of yours",
    409: "the request conflicts with what is there now: a running job, a taken name, a full set",
    413: "the body is over the route's limit (counted as it arrives): each file at most 25 MiB, "
    "a body without files 1 MiB",
    415: "the body is neither JSON nor a form: see the request body's content types",
    422: "a value is invalid, out of range or missing: the message names it",
    429: "this key's rate, the queue or the user's quota is full: retry after Retry-After seconds",
    500: "a bug on our side: the message gives a reference for the logs",
    503: "the model cannot run now (it is not loaded, or ran out of memory), or the bot is busy "
    "reading other uploads: then retry after Retry-After seconds",
    507: "the bot's disk is full",
}
HEADERS: Mapping[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "always Bearer",
            "required": True,
            "schema": {"type": "string", "const": "Bearer"},
        }
    },
    429: {
        "Retry-After": {
            "description": "seconds to wait before asking again",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    503: {
        "Retry-After": {
            "description": "when the bot is busy reading other uploads: seconds to wait",
            "required": False,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}
COMMON = (401, 422, 429, 500)  # what any route with a key can answer


def error_docs(*statuses: int, json: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses`` for these statuses, each an ``ErrorBody`` with its headers. FastAPI gives a
    ``model`` its route's media type, so a route that answers another (``/events``) passes ``json``:
    its errors are JSON all the same."""
    docs: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        doc: dict[str, Any] = {"description": MEANINGS[status]}
        if json:
            doc["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        else:
            doc["model"] = ErrorBody
        if status in HEADERS:
            doc["headers"] = HEADERS[status]
        docs[status] = doc
    return docs


class ApiError(Exception):
    """An answer that is not a job error: a missing key, a rate limit, an unknown route."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=dict(headers or {}))


def install(app: FastAPI, retry_after: Any) -> None:
    """``retry_after()`` says how many seconds a client told "the queue is full" should wait."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(LikenessError)
    @app.exception_handler(StorageError)
    async def _expected(request: Request, exc: Exception) -> JSONResponse:
        explained = explain(exc)
        if explained is None:
            return _bug(request, exc)
        status = STATUS.get(explained.code, 400)
        headers = {"Retry-After": str(await retry_after())} if status == 429 else {}
        if isinstance(exc, Busy):
            headers = {"Retry-After": str(exc.retry_after)}
        if isinstance(exc, DailyQuotaReached):  # until the next UTC midnight
            headers = {"Retry-After": str(max(1, math.ceil(exc.resets_at - time.time())))}
        return error_response(status, explained.code, explained.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", validation_message(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, code, str(exc.detail).lower(), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _bug(request, exc)


def validation_message(errors: Any) -> str:
    """pydantic's first complaint, naming the field as Discord names the option."""
    first = next(iter(errors), None)
    if first is None:
        return "the request could not be read"
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    if first.get("type") == "extra_forbidden":
        return f"unknown field {where!r}: see /docs for the fields a job takes"
    if first.get("type") == "missing":
        return f"{where} is required"
    return f"{where}: {message[0].lower()}{message[1:]}" if where else message


def allowed_methods(request: Request) -> list[str]:
    """Every method of the request's path: Starlette's 405 names only the first route's, and a path
    such as ``/v1/jobs/{job_id}`` is two routes (GET and DELETE)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(request.url.path):
            methods |= route.methods
    return sorted(methods)


def _bug(request: Request, exc: BaseException) -> JSONResponse:
    reference = secrets.token_hex(4)
    log.error("API %s %s failed (reference %s)", request.method, request.url.path, reference, exc_info=exc)
    return error_response(500, "internal", bug_message(reference))
