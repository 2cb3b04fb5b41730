"""``/v1/models``: the checkpoints a job may name in ``model``, as ``/models`` lists them in Discord."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.context import ApiContext, Ctx, Key
from bot.api.errors import COMMON, error_docs
from bot.api.schemas import ModelInfo, ModelList

ERRORS = error_docs(*COMMON)


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/v1/models", tags=["models"], responses=ERRORS)

    @router.get("", response_model=ModelList)
    async def list_models(key: Key, ctx: Ctx) -> ModelList:
        """Each model by name, the default first: its family once it has loaded, and how many workers
        hold it now. A job for a model not loaded waits for it to load (seconds to a minute)."""
        runner = ctx.services.runner
        states = sorted(runner.model_states(), key=lambda s: not s.default)
        return ModelList(
            models=[
                ModelInfo(name=s.name, family=s.family, loaded=s.loaded, default=s.default) for s in states
            ],
            kept_loaded=runner.models.budget.label,
        )

    return router
