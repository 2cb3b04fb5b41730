"""Request bodies are capped on the bytes that arrive: chunked bodies (no Content-Length) included,
for every content type, and a refused request leaves no job, character or file behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from bot.api.body_limit import JSON_LIMIT
from bot.api.uploads import MULTIPART_LIMIT, upload_limit
from bot.tiny import TinyBundle
from tests.bot.api.harness import ApiHarness, api_settings, running_api

CHUNK = 2**20
BOUNDARY = "likeness-test-boundary"


class Stream:
    """A chunked body: ``head``, then zeros until ``size`` bytes, then ``tail``; counts what was read."""

    def __init__(self, head: bytes, size: int, tail: bytes = b"") -> None:
        self.head, self.size, self.tail = head, size, tail
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        self.sent = len(self.head)
        while self.sent < self.size:
            chunk = b"\0" * min(CHUNK, self.size - self.sent)
            self.sent += len(chunk)
            yield chunk
        yield self.tail

    @property
    def finished(self) -> bool:
        return self.sent >= self.size


def multipart_file(size: int, field: str = "prompt", value: str = "a cat") -> Stream:
    """A form with one value, then an image file of about ``size`` bytes."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return Stream(head, size, f"\r\n--{BOUNDARY}--\r\n".encode())


MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


async def assert_refused(
    api: ApiHarness, data_dir: Path, path: str, stream: Stream, kind: dict[str, str]
) -> str:
    """The request is answered 413 before its body ends, and nothing is stored; its message."""
    key = await api.key(1)
    response = await api.client.post(path, content=stream, headers={**key, **kind})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"
    assert "content-length" not in response.request.headers  # really chunked
    assert not stream.finished  # reading stopped at the cap
    assert await api.services.jobs.user_jobs(1) == []
    assert await api.services.characters.repo.list(1) == []
    assert not any((data_dir / "media").rglob("*.*"))
    return str(response.json()["error"]["message"])


async def test_a_chunked_multipart_job_past_the_cap_gets_413(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        stream = multipart_file(MULTIPART_LIMIT + 8 * CHUNK)
        message = await assert_refused(api, data_dir, "/v1/jobs", stream, MULTIPART)
        assert message == ("the request is over the 51 MiB this route takes: each file may be at most 25 MiB")


async def test_a_reference_upload_has_the_cap_of_one_file(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    """Under the job's two-file cap but over one file's: the route lowers the cap before it reads."""
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        key = await api.key(1)
        assert (
            await api.client.post("/v1/characters", json={"name": "Mara"}, headers=key)
        ).status_code == 201
        stream = multipart_file(upload_limit(1) + 4 * CHUNK, "force", "1")
        response = await api.client.post(
            "/v1/characters/Mara/images", content=stream, headers={**key, **MULTIPART}
        )
        assert response.status_code == 413, response.text
        assert not stream.finished
        [mara] = await api.services.characters.repo.list(1)
        assert mara.image_count == 0
        assert not any((data_dir / "media").rglob("*.*"))


async def test_chunked_json_past_1_mib_gets_413(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        json = {"content-type": "application/json"}
        await assert_refused(api, data_dir, "/v1/jobs", Stream(b'{"prompt": "', 4 * JSON_LIMIT, b'"}'), json)
        await assert_refused(
            api, data_dir, "/v1/characters", Stream(b'{"name": "', 4 * JSON_LIMIT, b'"}'), json
        )


async def test_an_oversized_url_encoded_form_gets_413(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        form = {"content-type": "application/x-www-form-urlencoded"}
        await assert_refused(api, data_dir, "/v1/jobs", Stream(b"prompt=", 4 * JSON_LIMIT), form)
        key = await api.key(1)
        declared = await api.client.post("/v1/jobs", data={"prompt": "x" * (2 * JSON_LIMIT)}, headers=key)
        assert (
            declared.status_code == 413
            and "is 2.0 MiB, over the 1 MiB this route takes" in declared.json()["error"]["message"]
        )
        assert await api.services.jobs.user_jobs(1) == []


async def test_form_parts_are_counted_and_capped(tiny_bundle: TinyBundle, data_dir: Path) -> None:
    async with running_api(api_settings(tiny_bundle, data_dir), start_queue=False) as api:
        key = await api.key(1)
        fields = {f"f{i}": "1" for i in range(65)}
        many = await api.client.post("/v1/jobs", data=fields, files={"image": ("a.png", b"x")}, headers=key)
        assert many.status_code == 400 and "maximum number of fields is 64" in many.json()["error"]["message"]
        long = await api.client.post(
            "/v1/jobs", data={"prompt": "x" * (100 * 1024)}, files={"image": ("a.png", b"x")}, headers=key
        )
        assert long.status_code == 400 and "maximum size of 64kb" in long.json()["error"]["message"]
        assert await api.services.jobs.user_jobs(1) == []
