"""A job's or a reference's images from a request: multipart files (``image``, also ``file`` or
``reference_image``; ``mask``) or URLs from a JSON body, read with the Discord path's limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from bot.api.context import ApiContext
from bot.api.errors import ApiError
from bot.api.urls import check_url, fetch_image
from bot.engine.uploads import MAX_UPLOAD_BYTES, UploadInfo
from bot.errors import BadImage, InvalidRequest

IMAGE_FIELDS = ("image", "file", "reference_image")
FILE_FIELDS = (*IMAGE_FIELDS, "mask")
MAX_FIELDS = 64
FORM_OVERHEAD = 1024 * 1024  # the fields and multipart framing around the files


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


def check_body_size(request: Request, files: int) -> None:
    """Refuse a body larger than ``files`` uploads at the limit before it is parsed (and spooled)."""
    declared = request.headers.get("content-length", "")
    limit = files * MAX_UPLOAD_BYTES + FORM_OVERHEAD
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413,
            "too_large",
            f"the request is {int(declared) / 2**20:.1f} MiB; its files may be at most "
            f"{MAX_UPLOAD_BYTES // 2**20} MiB each",
        )


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
