"""A job's or a reference's images from a request: multipart files (``image``, also ``file`` or
``reference_image``; ``mask``) or URLs from a JSON body, read with the Discord path's limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from bot.api.body_limit import limit_body
from bot.api.context import ApiContext
from bot.api.urls import check_url, fetch_image
from bot.engine.uploads import MAX_UPLOAD_BYTES, UploadInfo
from bot.errors import BadImage, InvalidRequest

IMAGE_FIELDS = ("image", "file", "reference_image")
FILE_FIELDS = (*IMAGE_FIELDS, "mask")
MAX_FIELDS = 64
MAX_FIELD_BYTES = 64 * 1024  # one value of a form (a prompt is at most 1000 characters)
FORM_OVERHEAD = 1024 * 1024  # the fields and multipart framing around the files


def upload_limit(files: int) -> int:
    """The most a multipart body with ``files`` files at their limit may be."""
    return files * MAX_UPLOAD_BYTES + FORM_OVERHEAD


JOB_FILES = 2  # a job's image and mask
MULTIPART_LIMIT = upload_limit(JOB_FILES)  # the largest form any route takes


@dataclass(frozen=True, slots=True)
class Upload:
    """One image to come: a form file or a URL. ``info`` feeds the cheap checks before it is read."""

    what: str
    file: UploadFile | None = None
    url: str | None = field(default=None, repr=False)  # image_url: may carry credentials

    @property
    def info(self) -> UploadInfo:
        if self.file is not None:
            return UploadInfo(self.file.filename or self.what, self.file.content_type, self.file.size or 0)
        return UploadInfo(self.url or self.what, None, 0)

    async def read(self, ctx: ApiContext) -> bytes:
        if self.file is not None:
            data = await self.file.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                raise BadImage(f"the {self.what} is over {MAX_UPLOAD_BYTES // 2**20} MiB, the limit")
            return data
        assert self.url is not None
        return await fetch_image(ctx.client, self.url, ctx.policy, self.what, MAX_UPLOAD_BYTES)


async def read_form(request: Request, *, files: int, fields: int) -> FormData:
    """The form, its body capped at ``files`` uploads at their limit (counted as it arrives, see
    ``bot.api.body_limit``) and its parts counted: at most ``files`` files and ``fields`` values of
    ``MAX_FIELD_BYTES`` each (Starlette answers 400 naming the limit past them)."""
    limit_body(request.scope, upload_limit(files))
    return await request.form(max_files=files, max_fields=fields, max_part_size=MAX_FIELD_BYTES)


def split_form(form: FormData) -> tuple[dict[str, str], dict[str, UploadFile]]:
    """Plain fields and files; a field given twice, or a file where a value belongs, is refused."""
    fields: dict[str, str] = {}
    files: dict[str, UploadFile] = {}
    for name, value in form.multi_items():
        if name in fields or name in files:
            raise InvalidRequest(f"the field {name!r} is given twice")
        if isinstance(value, UploadFile):
            if name not in FILE_FIELDS:
                raise InvalidRequest(f"the field {name!r} is a file; files go in {', '.join(FILE_FIELDS)}")
            files[name] = value
        elif name in FILE_FIELDS and value == "":
            continue  # an empty file input, as browsers send it
        else:
            fields[name] = value
    return fields, files


def form_image(files: dict[str, UploadFile], what: str = "image") -> Upload | None:
    given = [name for name in IMAGE_FIELDS if name in files]
    if len(given) > 1:
        raise InvalidRequest(f"give one image, not {len(given)} ({', '.join(given)})")
    return Upload(what, file=files[given[0]]) if given else None


async def url_upload(ctx: ApiContext, url: str | None, what: str) -> Upload | None:
    """A URL to fetch later, its scheme and address checked now (so a bad URL costs nothing)."""
    if url is None:
        return None
    await check_url(url, ctx.policy, what)
    return Upload(what, url=url)
