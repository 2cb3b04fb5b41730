"""``/v1/characters``: your reference sets, as ``/character`` manages them in Discord."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from bot.api.context import ApiContext, Ctx, Key
from bot.api.errors import COMMON, STATUS, ApiError, error_docs, validation_message
from bot.api.params import CharacterName, ImageNumber
from bot.api.schemas import (
    Added,
    Character,
    CharacterList,
    CharacterSet,
    NewCharacter,
    Reference,
    Rename,
)
from bot.api.uploads import IMAGE_FIELDS, Upload, form_image, read_form, split_form
from bot.api.views import iso
from bot.characters.service import AddOutcome
from bot.engine.uploads import check_metadata
from bot.errors import Busy
from bot.running.decodes import RETRY_AFTER
from storage import ApiKeyRow, CharacterRow

ERRORS = error_docs(*COMMON)
_UPLOAD_DOCS = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        **{name: {"type": "string", "format": "binary"} for name in IMAGE_FIELDS},
                        "type": {"type": "string", "enum": ["primary", "reference"]},
                        "force": {
                            "type": "boolean",
                            "description": "add even if it looks like another person",
                        },
                    },
                }
            }
        },
    }
}
_CREATE_DOCS = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": NewCharacter.model_json_schema(), "example": {"name": "Nova"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        **{name: {"type": "string", "format": "binary"} for name in IMAGE_FIELDS},
                        "force": {"type": "boolean"},
                    },
                }
            },
        },
    }
}


def build_router(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/v1/characters", tags=["characters"], responses=ERRORS)

    @router.get("", response_model=CharacterList)
    async def listing(key: Key, ctx: Ctx) -> CharacterList:
        rows = await ctx.services.characters.repo.list(key.user_id)
        return CharacterList(characters=[_character(c) for c in rows])

    @router.post(
        "",
        status_code=201,
        response_model=CharacterSet,
        responses=error_docs(400, 404, 409, 413, 415, 503, 507),
        openapi_extra=_CREATE_DOCS,
    )
    async def create(request: Request, key: Key, ctx: Ctx) -> JSONResponse:
        """A new character, optionally with its first image (the primary). When that image is
        refused, the character is not kept: nothing is half-made."""
        fields, image = await _read_create(request)
        upload = None
        if image is not None:
            check_metadata(image.info, "reference")
            upload = (image.info.filename, await image.read(ctx))
        created = await ctx.services.characters.create(key.user_id, fields.name, upload, force=fields.force)
        body = await _set(ctx, key, created.character.name)
        return JSONResponse(body.model_dump(mode="json"), 201)

    @router.get("/{name}", response_model=CharacterSet, responses=error_docs(404))
    async def one(name: CharacterName, key: Key, ctx: Ctx) -> CharacterSet:
        """The set: each image with its quality report and its similarity to the rest."""
        return await _set(ctx, key, name)

    @router.delete("/{name}", status_code=204, responses=error_docs(404, 409))
    async def delete(name: CharacterName, key: Key, ctx: Ctx) -> Response:
        await ctx.services.characters.delete(key.user_id, name)
        return Response(status_code=204)

    @router.patch("/{name}", response_model=CharacterSet, responses=error_docs(404, 409, 413))
    async def rename(name: CharacterName, body: Rename, key: Key, ctx: Ctx) -> CharacterSet:
        """A new name (only its case may change, too); jobs made for it keep it."""
        _, renamed = await ctx.services.characters.rename(key.user_id, name, body.name)
        return await _set(ctx, key, renamed.name)

    @router.post(
        "/{name}/images",
        status_code=201,
        response_model=Added,
        responses=error_docs(400, 404, 409, 413, 503, 507),
        openapi_extra=_UPLOAD_DOCS,
    )
    async def add(name: CharacterName, request: Request, key: Key, ctx: Ctx) -> JSONResponse:
        """One image. ``type=primary`` makes it the primary; without a type the first image of a set
        is the primary and later ones are references."""
        character = await ctx.services.characters.repo.resolve(key.user_id, name)
        fields, files = split_form(await read_form(request, files=1, fields=8))
        unknown = sorted(set(fields) - {"type", "force"})
        if unknown:
            raise ApiError(
                422, "invalid_request", f"unknown field {unknown[0]!r}: give the image, type and force"
            )
        role = fields.get("type") or None
        if role not in (None, "primary", "reference"):
            raise ApiError(422, "invalid_request", f"type must be primary or reference (got {role!r})")
        if role == "reference" and character.image_count == 0:
            raise ApiError(
                422,
                "invalid_request",
                f"“{character.name}” has no images yet, and the first image of a set is its primary: "
                "leave type out or give type=primary",
            )
        image = form_image(files, "reference")
        if image is None:
            raise ApiError(422, "invalid_request", f"attach the image as {' or '.join(IMAGE_FIELDS)}")
        outcome = await _add(ctx, key, character, image, force=_flag(fields.get("force")))
        if outcome.error is not None:
            _raise_refused(outcome)
        assert outcome.number is not None
        number, primary = outcome.number, outcome.primary
        if role == "primary" and not primary:
            await ctx.services.characters.promote(key.user_id, character.name, number)
            number, primary = 1, True
        added = Added(
            character=character.name,
            number=number,
            role="primary" if primary else "reference",
            warnings=list(outcome.warnings),
        )
        return JSONResponse(added.model_dump(), 201)

    @router.post(
        "/{name}/images/{number}/promote", response_model=CharacterSet, responses=error_docs(404, 409)
    )
    async def promote(name: CharacterName, number: ImageNumber, key: Key, ctx: Ctx) -> CharacterSet:
        character, _ = await ctx.services.characters.promote(key.user_id, name, number)
        return await _set(ctx, key, character.name)

    @router.delete("/{name}/images/{number}", response_model=CharacterSet, responses=error_docs(404, 409))
    async def prune(name: CharacterName, number: ImageNumber, key: Key, ctx: Ctx) -> CharacterSet:
        character, _ = await ctx.services.characters.prune(key.user_id, name, number)
        return await _set(ctx, key, character.name)

    return router


@dataclass(frozen=True, slots=True)
class _CreateFields:
    name: str
    force: bool


async def _read_create(request: Request) -> tuple[_CreateFields, Upload | None]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = NewCharacter.model_validate(json.loads(await request.body()))
        except ValueError as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else []
            message = validation_message(errors) if errors else "the body is not valid JSON"
            raise ApiError(422, "invalid_request", message) from None
        return _CreateFields(body.name, False), None
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields, files = split_form(await read_form(request, files=1, fields=8))
        unknown = sorted(set(fields) - {"name", "force"})
        if unknown:
            raise ApiError(
                422, "invalid_request", f"unknown field {unknown[0]!r}: give name, the image and force"
            )
        if not fields.get("name", "").strip():
            raise ApiError(422, "invalid_request", "name is required")
        return _CreateFields(fields["name"], _flag(fields.get("force"))), form_image(files, "reference")
    raise ApiError(
        415, "unsupported_media_type", 'send JSON {"name": …} or a multipart form with name and image'
    )


async def _add(
    ctx: ApiContext, key: ApiKeyRow, character: CharacterRow, image: Upload, *, force: bool
) -> AddOutcome:
    check_metadata(image.info, "reference")
    data = await image.read(ctx)
    [outcome] = await ctx.services.characters.add_images(
        key.user_id, character, [(image.info.filename, data)], force=force
    )
    return outcome


def _raise_refused(outcome: AddOutcome) -> None:
    code = outcome.code or "reference_refused"
    headers = {"Retry-After": str(RETRY_AFTER)} if code == Busy.code else None
    raise ApiError(STATUS.get(code, 422), code, outcome.error or "the image was refused", headers)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _character(row: CharacterRow) -> Character:
    return Character(name=row.name, images=row.image_count, created_at=iso(row.created_at) or "")


async def _set(ctx: ApiContext, key: ApiKeyRow, name: str) -> CharacterSet:
    service = ctx.services.characters
    character = await service.repo.resolve(key.user_id, name)
    refs = await service.repo.references(key.user_id, character.id)
    scores = service.scores(refs)
    known = [s.score for s in scores if s.score is not None]
    references = [
        Reference(
            number=s.ref.number,
            role="primary" if s.ref.is_primary else "reference",
            face_found=None if s.ref.embedding is None else s.ref.embedding.vector is not None,
            similarity=s.score,
            quality=s.ref.quality,
            created_at=iso(s.ref.created_at) or "",
        )
        for s in scores
    ]
    return CharacterSet(
        **_character(character).model_dump(),
        references=references,
        consistency=sum(known) / len(known) if known else None,
    )
