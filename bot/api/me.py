"""``/v1/me``: the caller's own data. ``DELETE`` forgets everything stored about them, as
``/forget-me`` does in Discord (their keys included, this one too)."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.context import ApiContext, Ctx, Key
from bot.api.errors import COMMON, error_docs
from bot.api.schemas import Forgotten

ERRORS = error_docs(*COMMON)


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/v1/me", tags=["me"], responses=ERRORS)

    @router.delete("", response_model=Forgotten, responses=error_docs(409))
    async def forget_me(key: Key, ctx: Ctx) -> Forgotten:
        """Your characters, reference images and face embeddings, jobs, outputs and API keys. Your
        unfinished jobs are cancelled first; one that does not stop in time is 409 ``user_busy``
        (nothing deleted: try again)."""
        report = (await ctx.services.forget(key.user_id)).report
        return Forgotten(
            characters=report.characters,
            images=report.images,
            jobs=report.jobs,
            outputs=report.outputs,
            files=report.files,
        )

    return router
