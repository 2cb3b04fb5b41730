"""Fetching what a client names by URL (``image_url``, ``mask_url``) and posting webhooks, without
letting a client reach what only the bot can: http(s) only; every address the host resolves to
must be public (not private, loopback, link-local, reserved or multicast), checked again at every
redirect; a size cap and timeouts. ``allow_private`` lifts the address rule (tests, a LAN setup).

The check resolves the name, then httpx resolves it again to connect: a DNS server that answers
differently the second time (rebinding) is not caught. Run the bot where its own network holds
nothing a client must not reach, or behind an egress proxy, when that matters.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from bot.errors import BadImage, InvalidRequest

MAX_REDIRECTS = 3
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class UrlRefused(InvalidRequest):
    """A URL the bot will not fetch or post to."""


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    allow_private: bool = False


async def check_url(url: str, policy: UrlPolicy, what: str) -> httpx.URL:
    """The URL parsed, once its scheme and every address its host resolves to pass."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise UrlRefused(f"the {what} “{url[:100]}” is not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UrlRefused(f"the {what} must be an http:// or https:// URL (got “{url[:100]}”)")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UrlRefused(f"the {what}'s host “{parsed.host}” does not resolve") from None
    if not policy.allow_private:
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            if not address.is_global or address.is_multicast:
                raise UrlRefused(
                    f"the {what}'s host “{parsed.host}” is a private, loopback or link-local address "
                    f"({address}): give a public URL"
                )
    return parsed


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    policy: UrlPolicy,
    what: str,
    *,
    max_bytes: int,
    **kwargs: object,
) -> tuple[httpx.Response, bytes]:
    """One request with redirects followed by hand, each hop checked; the body, at most ``max_bytes``."""
    for _ in range(MAX_REDIRECTS + 1):
        target = await check_url(url, policy, what)
        async with client.stream(method, target, **kwargs) as response:  # type: ignore[arg-type]
            if response.status_code in REDIRECTS and "location" in response.headers:
                url = str(target.join(response.headers["location"]))
                if response.status_code == 303:
                    method, kwargs = "GET", {k: v for k, v in kwargs.items() if k == "headers"}
                continue
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise _too_big(what, max_bytes)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise _too_big(what, max_bytes)
            return response, bytes(body)
    raise UrlRefused(f"the {what} redirects more than {MAX_REDIRECTS} times")


async def fetch_image(
    client: httpx.AsyncClient, url: str, policy: UrlPolicy, what: str, max_bytes: int
) -> bytes:
    """An image by URL, for a job; every failure as a message its client can act on."""
    try:
        response, body = await send(client, "GET", url, policy, what, max_bytes=max_bytes)
    except httpx.TimeoutException:
        raise BadImage(f"fetching the {what} timed out: give a faster URL, or upload the file") from None
    except httpx.HTTPError as exc:
        raise BadImage(f"could not fetch the {what}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise BadImage(f"could not fetch the {what}: its server answered {response.status_code}")
    return body


def _too_big(what: str, max_bytes: int) -> BadImage:
    return BadImage(f"the {what} is over {max_bytes // 2**20} MiB, the limit")
