"""What the routes share: the bot's services, and the API's own parts (keys, views, events, URLs)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.api.auth import Authenticator
from bot.api.events import ApiEvents
from bot.api.urls import UrlPolicy
from bot.api.views import JobViews
from bot.app.services import Services
from storage import ApiKeyRow


@dataclass(slots=True)
class ApiContext:
    services: Services
    views: JobViews
    events: ApiEvents
    auth: Authenticator
    client: httpx.AsyncClient  # image_url fetches and webhooks
    policy: UrlPolicy

    async def retry_after(self) -> int:
        """Seconds a client refused for a full queue should wait: about one job's time."""
        status = await self.services.queue.status()
        return max(1, math.ceil(status.seconds_per_job))


def context(request: Request) -> ApiContext:
    return request.app.state.api  # type: ignore[no-any-return]


# Documents the scheme in /openapi.json; ``Authenticator`` reads the header itself (401 as JSON).
bearer = HTTPBearer(auto_error=False, description="an API key: python -m bot api-key create")


async def api_key(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> ApiKeyRow:
    """The caller's key (401 without a valid one, 429 over its rate)."""
    return await context(request).auth(request)


Ctx = Annotated[ApiContext, Depends(context)]
Key = Annotated[ApiKeyRow, Depends(api_key)]
