"""Fetching what a client names by URL (``image_url``, ``mask_url``) and posting webhooks, without
letting a client reach what only the bot can: http(s) only (webhooks https only); every address
the host resolves to must be public (not private, loopback, link-local, reserved or multicast,
nor such an IPv4 address wrapped in IPv6), checked again at every redirect a fetch follows; a size
cap and timeouts. ``allow_private`` lifts the address rule and lets webhooks use http (tests, a LAN).

Messages and log lines name a URL by its origin (scheme, host, port) only: a URL's userinfo, path
and query may hold credentials (``?token=``, presigned signatures).

The connection goes to the address the check approved (``pinned``), not to the name: a DNS server
that answers a public address to the check and a private one to a second lookup (rebinding) is
not asked again. The name stays in ``Host`` and in TLS, whose certificate is checked against it.
A redirect is checked and pinned again. ``request`` is the one place a checked URL is connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass

import httpx

from bot.errors import BadImage, InvalidRequest

MAX_REDIRECTS = 3
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
FETCH_DEADLINE = 30.0  # seconds for a whole image fetch, redirects and a dripping body included
REDIRECTS = frozenset({301, 302, 303, 307, 308})
WEB = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]  # (host or IP, port) → addresses; OSError if none

# IPv6 forms that carry an IPv4 address in their last 32 bits: a packet to one goes to that address.
_WRAPPED_IPV4 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "::/96",  # IPv4-compatible (deprecated; :: and ::1 unwrap to 0.0.0.0 and 0.0.0.1, refused)
        "64:ff9b::/96",  # NAT64, well-known prefix
    )
)
# Tunnels whose far end cannot be judged from the address: refused outright.
_TUNNELS = (
    ipaddress.IPv6Network("2001::/32"),  # Teredo: relayed to a client behind some NAT
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64: prefixes of any length, the IPv4 anywhere
)
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")


class UrlRefused(InvalidRequest):
    """A URL the bot will not fetch or post to."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    allow_private: bool = False
    resolve: Resolver = system_resolver  # a seam for tests: names that resolve without DNS

    @property
    def webhook_schemes(self) -> tuple[str, ...]:
        """A webhook carries a signed job over the network: https, unless private URLs are allowed."""
        return WEB if self.allow_private else ("https",)


def origin(url: httpx.URL) -> str:
    """``scheme://host[:port]``: all of a URL a message or log line may show."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}" + (f":{url.port}" if url.port is not None else "")


def is_public(address: IPAddress) -> bool:
    """Whether an address is globally reachable: an IPv4 address wrapped in IPv6 judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in tunnel for tunnel in _TUNNELS):
            return False
        if address in _SIXTOFOUR:
            return is_public(ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF))
        if any(address in wrapped for wrapped in _WRAPPED_IPV4):
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not address.is_multicast


async def check_url(url: str, policy: UrlPolicy, what: str, *, schemes: Collection[str] = WEB) -> httpx.URL:
    """The URL parsed, once its scheme and every address its host resolves to pass."""
    return (await _approved(url, policy, what, schemes))[0]


async def _approved(
    url: str, policy: UrlPolicy, what: str, schemes: Collection[str]
) -> tuple[httpx.URL, IPAddress]:
    """The URL parsed, and the address its connection must go to (the first its host resolved to),
    once its scheme and every address pass."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise UrlRefused(f"the {what} is not a URL") from None  # not echoed: it may hold a secret
    if parsed.scheme not in schemes or not parsed.host:
        wanted = " or ".join(f"{s}://" for s in sorted(schemes))
        raise UrlRefused(f"the {what} must be an {wanted} URL")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(a) for a in await policy.resolve(parsed.host, port)]
    except (OSError, ValueError):
        raise UrlRefused(f"the {what}'s host “{parsed.host}” does not resolve") from None
    for address in addresses:
        if not policy.allow_private and not is_public(address):
            raise UrlRefused(
                f"the {what}'s host “{parsed.host}” is a private, loopback or link-local address "
                f"({address}): give a public URL"
            )
    if not addresses:
        raise UrlRefused(f"the {what}'s host “{parsed.host}” does not resolve")
    return parsed, addresses[0]


def pinned(url: httpx.URL, address: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, str]]:
    """The request aimed at ``address`` itself, so that no second lookup (DNS rebinding) can send
    it elsewhere: the URL with the address as its host, the name in ``Host``, and for https the name
    as the TLS server name, which the certificate is verified against."""
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return url.copy_with(host=str(address)), {"host": url.netloc.decode("ascii")}, extensions


@contextlib.asynccontextmanager
async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    policy: UrlPolicy,
    what: str,
    *,
    schemes: Collection[str] = WEB,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[tuple[httpx.URL, httpx.Response]]:
    """One request to a checked URL, sent to the address that passed the check; its answer
    streamed; a redirect is returned, not followed."""
    target, address = await _approved(url, policy, what, schemes)
    aimed, host, extensions = pinned(target, address)
    request = client.build_request(method, aimed, content=content, headers={**(headers or {}), **host})
    request.extensions.update(extensions)
    response = await client.send(request, stream=True)
    try:
        yield target, response
    finally:
        await response.aclose()


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The body up to ``max_bytes + 1`` bytes (so a caller can tell it is over); the rest unread."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            break
    return bytes(body[: max_bytes + 1])


async def get(
    client: httpx.AsyncClient, url: str, policy: UrlPolicy, what: str, *, max_bytes: int
) -> tuple[httpx.Response, bytes]:
    """A GET with redirects followed by hand, each hop checked; the body, at most ``max_bytes``."""
    for _ in range(MAX_REDIRECTS + 1):
        async with request(client, "GET", url, policy, what) as (target, response):
            if response.status_code in REDIRECTS and "location" in response.headers:
                try:
                    url = str(target.join(response.headers["location"]))
                except httpx.InvalidURL:
                    raise UrlRefused(f"the {what} redirects to something that is not a URL") from None
                continue
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise _too_big(what, max_bytes)
            body = await read_capped(response, max_bytes)
            if len(body) > max_bytes:
                raise _too_big(what, max_bytes)
            return response, body
    raise UrlRefused(f"the {what} redirects more than {MAX_REDIRECTS} times")


async def fetch_image(
    client: httpx.AsyncClient,
    url: str,
    policy: UrlPolicy,
    what: str,
    max_bytes: int,
    deadline: float = FETCH_DEADLINE,
) -> bytes:
    """An image by URL, for a job; every failure as a message its client can act on. The
    ``deadline`` bounds the whole fetch: read timeouts alone let a server drip bytes for hours."""
    try:
        async with asyncio.timeout(deadline):
            response, body = await get(client, url, policy, what, max_bytes=max_bytes)
    except (httpx.TimeoutException, TimeoutError):
        raise BadImage(f"fetching the {what} timed out: give a faster URL, or upload the file") from None
    except httpx.HTTPError as exc:
        raise BadImage(f"could not fetch the {what}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise BadImage(f"could not fetch the {what}: its server answered {response.status_code}")
    return body


def _too_big(what: str, max_bytes: int) -> BadImage:
    return BadImage(f"the {what} is over {max_bytes // 2**20} MiB, the limit")


class _OriginsOnly(logging.Filter):
    """httpx logs each request's full URL at INFO: keep its origin, drop what may be a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(origin(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


logging.getLogger("httpx").addFilter(_OriginsOnly())
