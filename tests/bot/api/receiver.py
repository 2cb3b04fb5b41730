"""A local web server on 127.0.0.1 for the API tests: a webhook receiver that records what it gets
(and answers what the test says, or drips its answer), and images to fetch by URL, with redirects
and oversize bodies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    base: str = ""
    hooks: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses for the next hooks; then 204
    files: dict[str, bytes] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_hooks(self, count: int, timeout: float = 30) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.hooks) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.hooks


def _app(receiver: Receiver) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        receiver.hooks.append(Received(dict(request.headers), await request.read()))
        receiver.arrived.set()
        return web.Response(status=receiver.answers.pop(0) if receiver.answers else 204)

    async def file(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in receiver.files:
            return web.Response(status=404)
        return web.Response(body=receiver.files[name], content_type="image/png")

    async def redirect(request: web.Request) -> web.Response:
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})

    async def drip(request: web.Request) -> web.StreamResponse:
        """Records the hook, then answers 200 a byte at a time, each well inside any read timeout."""
        await hook(request)
        return await _dribble(request, web.StreamResponse(status=200), b" ")

    async def trickle(request: web.Request) -> web.StreamResponse:
        """An image answered a byte at a time: no read ever times out, the whole takes a minute."""
        return await _dribble(request, web.StreamResponse(headers={"content-type": "image/png"}), b"\0")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "image/png"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(4096):
                await response.write(b"\0" * 65536)
        return response

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/files/{name}", file)
    app.router.add_get("/redirect", redirect)
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/drip", drip)
    app.router.add_get("/endless", endless)
    app.router.add_get("/trickle", trickle)
    return app


async def _dribble(request: web.Request, response: web.StreamResponse, byte: bytes) -> web.StreamResponse:
    """One byte every 0.1 s for a minute, or until the client hangs up."""
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        for _ in range(600):
            await response.write(byte)
            await asyncio.sleep(0.1)
    return response


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    runner = web.AppRunner(_app(receiver))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.base = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
