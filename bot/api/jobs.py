"""``/v1/jobs``: submit, look up, list, cancel, delete, download, and stream a job's events."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import ValidationError

from bot.actions.submissions import Destination
from bot.api.context import ApiContext, Ctx, Key
from bot.api.errors import COMMON, ApiError, error_docs, validation_message
from bot.api.events import STREAM_EVENT
from bot.api.job_options import JobForm, JobJson, JobOptions
from bot.api.params import Before, JobId, Limit, OutputIndex
from bot.api.schemas import JobAccepted, JobPage, JobView
from bot.api.uploads import JOB_FILES, MAX_FIELDS, Upload, form_image, read_form, split_form, url_upload
from bot.api.urls import check_url
from bot.api.views import STATES, iso
from bot.options import job_params
from bot.running.queue import Job
from storage import ApiKeyRow, CancelOutcome

ERRORS = error_docs(*COMMON)


def _body_docs() -> dict[str, Any]:
    """The two bodies ``POST /v1/jobs`` takes, from their models (read by hand below, not by FastAPI)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": JobForm.model_json_schema()},
                "application/json": {
                    "schema": JobJson.model_json_schema(by_alias=False),
                    "example": {"prompt": "a lighthouse at dusk", "aspect": "16:9", "seed": 7},
                },
            },
        }
    }


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERRORS)

    @router.post(
        "",
        status_code=202,
        response_model=JobAccepted,
        responses={
            202: {"headers": {"Location": {"description": "the job's URL", "schema": {"type": "string"}}}},
            **error_docs(400, 404, 409, 413, 415, 503, 507),
        },
        openapi_extra=_body_docs(),
    )
    async def submit(request: Request, key: Key, ctx: Ctx) -> JSONResponse:
        """Queue a job. Multipart with the files ``image`` (or ``file``, ``reference_image``) and
        ``mask``, or JSON with ``image_url`` (or ``referenceImageUrl``) and ``mask_url``."""
        options, image, mask = await _read_job(request, ctx)
        values = options.values()
        params = job_params(values, image=image is not None)
        if options.webhook is not None:
            await check_url(options.webhook, ctx.policy, "webhook", schemes=ctx.policy.webhook_schemes)
        submissions = ctx.services.submissions
        draft = await submissions.check(
            key.user_id,
            params,
            image=image.info if image else None,
            mask=mask.info if mask else None,
            character=values["character"],
        )
        image_data = await image.read(ctx) if image else None
        mask_data = await mask.read(ctx) if mask else None
        destination = Destination(api_key_id=key.id, webhook_url=options.webhook)
        ticket = await submissions.submit(draft, destination, image=image_data, mask=mask_data)
        job = ticket.job
        accepted = JobAccepted(
            id=job.id,
            status=STATES[job.status],
            position=ticket.position,
            created_at=iso(job.created_at) or "",
        )
        return JSONResponse(accepted.model_dump(), 202, headers={"Location": f"/v1/jobs/{job.id}"})

    @router.get("", response_model=JobPage)
    async def recent(
        key: Key,
        ctx: Ctx,
        limit: Limit = 20,
        before: Before = None,
    ) -> JobPage:
        """Your jobs, newest first (Discord's and the API's alike)."""
        rows = await ctx.services.jobs.user_jobs(key.user_id, limit=limit + 1, before=before)
        views = [await ctx.views.view(job, allows_nsfw=key.allow_nsfw) for job in rows[:limit]]
        return JobPage(jobs=views, next_before=rows[limit - 1].id if len(rows) > limit else None)

    @router.get("/{job_id}", response_model=JobView, responses=error_docs(404))
    async def one(job_id: JobId, key: Key, ctx: Ctx) -> JobView:
        return await ctx.views.view(await _own(ctx, job_id, key), allows_nsfw=key.allow_nsfw)

    @router.post(
        "/{job_id}/cancel",
        response_model=JobView,
        responses={
            200: {"description": "the job was queued: it is cancelled"},
            202: {"model": JobView, "description": "the job is running: it stops at its next step"},
            **error_docs(404, 409),
        },
    )
    async def cancel(job_id: JobId, key: Key, ctx: Ctx) -> JSONResponse:
        """A queued job is cancelled at once (200); a running one stops at its next step (202)."""
        result = await ctx.services.job_actions.cancel(job_id, key.user_id)
        job = result.job or await _own(ctx, job_id, key)
        view = await ctx.views.view(job, allows_nsfw=key.allow_nsfw)
        status = 202 if result.outcome is CancelOutcome.CANCEL_RUNNING else 200
        return JSONResponse(view.model_dump(mode="json"), status)

    @router.delete("/{job_id}", status_code=204, responses=error_docs(404, 409))
    async def delete(job_id: JobId, key: Key, ctx: Ctx) -> Response:
        """A finished job, its outputs and its inputs (files no other job or character uses); a job
        still queued or running is refused (409): cancel it first."""
        await ctx.services.job_actions.delete(job_id, key.user_id)
        return Response(status_code=204)

    @router.get(
        "/{job_id}/outputs/{index}",
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}}, "description": "the PNG with its parameters chunk"},
            **error_docs(403, 404),
        },
    )
    async def output(job_id: JobId, index: OutputIndex, key: Key, ctx: Ctx) -> Response:
        """The output's PNG; one the NSFW check flagged is 403 ``nsfw_withheld`` unless the key allows
        flagged outputs (``api-key nsfw KEY allow``, ``/apikey nsfw``)."""
        job = await _own(ctx, job_id, key)
        found = next((o for o in await ctx.services.jobs.outputs(job.id) if o.idx == index), None)
        if found is None:
            raise ApiError(404, "not_found", f"job {job_id} has no output {index}")
        reason = ctx.views.withheld(found, key.allow_nsfw)
        if reason is not None:
            raise ApiError(
                403,
                "nsfw_withheld",
                f"output {index} of job {job_id} is withheld: flagged NSFW, and {reason} "
                "(its owner can allow it with /apikey nsfw)",
            )
        data = ctx.services.media.read(found.media, found.ext)
        media_type = "image/png" if found.ext == "png" else f"image/{found.ext}"
        name = f"likeness-{job_id}-{index + 1}-{found.seed}.{found.ext}"
        return Response(
            data, media_type=media_type, headers={"Content-Disposition": f'inline; filename="{name}"'}
        )

    @router.get(
        "/{job_id}/structure",
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}}, "description": "the map the ControlNet read"},
            **error_docs(404),
        },
    )
    async def structure(job_id: JobId, key: Key, ctx: Ctx) -> Response:
        job = await _own(ctx, job_id, key)
        if job.structure_media is None:
            raise ApiError(404, "not_found", f"job {job_id} kept no structure map")
        data = ctx.services.media.read(job.structure_media, "png")
        name = f"likeness-{job_id}-{job.params.structure}.png"
        return Response(
            data, media_type="image/png", headers={"Content-Disposition": f'inline; filename="{name}"'}
        )

    @router.get(
        "/{job_id}/events",
        response_class=EventSourceResponse,
        responses={
            200: {"content": {"text/event-stream": {"schema": STREAM_EVENT}}},
            **error_docs(*COMMON, 404, json=True),
        },
    )
    async def events(job: OwnJob, key: Key, ctx: Ctx) -> AsyncIterator[ServerSentEvent]:
        """Server-Sent Events: ``progress`` ({"step", "total"}) while it runs, then ``completed``
        (the job object), then the stream ends. It ends too within seconds of its key's revocation
        (reconnecting then gets 401)."""
        with ctx.events.stream(job.id) as queue:
            current = await ctx.services.jobs.get(
                job.id
            )  # after subscribing: an end in between is not missed
            if current is None or current.status.finished:
                view = await ctx.views.view(current or job, allows_nsfw=key.allow_nsfw)
                yield ServerSentEvent(data=view.model_dump(mode="json"), event="completed", id=str(job.id))
                return
            step, total = ctx.views.progress.get(job.id, (0, job.params.steps or 0))
            yield ServerSentEvent(data={"step": step, "total": total}, event="progress")
            holding = ctx.events.while_key_holds(queue, lambda: ctx.services.keys.holds(key.id))
            async with contextlib.aclosing(holding) as stream:
                async for kind, payload in stream:
                    if kind == "completed":  # shown as this key may see it (withheld outputs)
                        done = await ctx.services.jobs.get(job.id)
                        view = await ctx.views.view(done or job, allows_nsfw=key.allow_nsfw)
                        data = view.model_dump(mode="json")
                        yield ServerSentEvent(data=data, event="completed", id=str(job.id))
                        return
                    yield ServerSentEvent(data=payload, event="progress")

    return router


async def _read_job(request: Request, ctx: ApiContext) -> tuple[JobOptions, Upload | None, Upload | None]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise ApiError(400, "invalid_request", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_request", "the body must be a JSON object of job options")
        try:
            body_json = JobJson.model_validate(body)
        except ValidationError as exc:
            raise ApiError(422, "invalid_request", validation_message(exc.errors())) from None
        image = await url_upload(ctx, body_json.image_url, "image")
        mask = await url_upload(ctx, body_json.mask_url, "mask")
        return body_json, image, mask
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await read_form(request, files=JOB_FILES, fields=MAX_FIELDS)
        fields, files = split_form(form)
        try:
            options = JobOptions.model_validate(fields)
        except ValidationError as exc:
            raise ApiError(422, "invalid_request", validation_message(exc.errors())) from None
        mask = Upload("mask", file=files["mask"]) if "mask" in files else None
        return options, form_image(files), mask
    raise ApiError(
        415, "unsupported_media_type", "send the job as multipart/form-data (with files) or application/json"
    )


async def _own(ctx: ApiContext, job_id: int, key: ApiKeyRow) -> Job:
    return await ctx.services.job_actions.own(job_id, key.user_id)


async def own_job(job_id: JobId, key: Key, ctx: Ctx) -> Job:
    """The caller's job ``job_id``; another user's is 404 exactly like a missing one."""
    return await _own(ctx, job_id, key)


OwnJob = Annotated[Job, Depends(own_job)]
