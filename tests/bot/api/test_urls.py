"""The URL rules (SSRF) without DNS: names resolve through an injected resolver, so a test can make
a name look public; IPv4 addresses wrapped in IPv6 are judged as the IPv4 address they reach."""

from __future__ import annotations

import time
from ipaddress import ip_address

import httpx
import pytest

from bot.api.urls import UrlPolicy, UrlRefused, check_url, fetch_image, pinned, request
from bot.errors import BadImage
from tests.bot.api.names import resolver
from tests.bot.api.receiver import running_receiver

WRAPPING_PRIVATE = [
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::c0a8:101",  # IPv4-compatible 192.168.1.1
    "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo: a relayed tunnel, refused whatever it wraps
    "64:ff9b:1::808:808",  # local-use NAT64: its prefix and so its IPv4 address are the network's
]
WRAPPING_PUBLIC = ["64:ff9b::808:808", "2002:808:808::1", "::808:808", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", WRAPPING_PRIVATE)
async def test_a_private_ipv4_address_wrapped_in_ipv6_is_refused(address: str) -> None:
    with pytest.raises(UrlRefused, match="private, loopback or link-local"):
        await check_url(f"https://[{address}]/hook", UrlPolicy(), "webhook")
    by_name = UrlPolicy(resolve=resolver({"tunnel.example": address}))
    with pytest.raises(UrlRefused, match=r"“tunnel\.example” is a private"):
        await check_url("https://tunnel.example/hook", by_name, "webhook")


@pytest.mark.parametrize("address", WRAPPING_PUBLIC)
async def test_a_public_ipv4_address_wrapped_in_ipv6_passes(address: str) -> None:
    by_name = UrlPolicy(resolve=resolver({"tunnel.example": address}))
    assert (await check_url("https://tunnel.example/hook", by_name, "webhook")).host == "tunnel.example"


async def test_webhooks_must_be_https_unless_private_urls_are_allowed() -> None:
    public = UrlPolicy(resolve=resolver({"hooks.example": "93.184.215.14"}))
    with pytest.raises(UrlRefused, match=r"^the webhook must be an https:// URL$"):
        await check_url("http://hooks.example/hook", public, "webhook", schemes=public.webhook_schemes)
    await check_url("https://hooks.example/hook", public, "webhook", schemes=public.webhook_schemes)
    lan = UrlPolicy(allow_private=True, resolve=public.resolve)
    await check_url("http://hooks.example/hook", lan, "webhook", schemes=lan.webhook_schemes)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:PASSWORD@10.0.0.1/hook?token=SECRET",
        "https://user:PASSWORD@nowhere.example/hook?token=SECRET",
        "ftp://user:PASSWORD@example.com/hook?token=SECRET",
        "https://[::1/hook?token=SECRET&PASSWORD",
    ],
)
async def test_a_refusal_names_the_host_never_the_rest_of_the_url(url: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        await check_url(url, UrlPolicy(resolve=resolver({})), "webhook")
    assert "SECRET" not in str(refused.value) and "PASSWORD" not in str(refused.value)


async def test_an_image_fetch_that_trickles_ends_at_its_deadline() -> None:
    """Each byte comes well inside the read timeout; only the fetch's own deadline stops it."""
    async with running_receiver() as receiver, httpx.AsyncClient() as client:
        started = time.monotonic()
        with pytest.raises(BadImage, match="fetching the image_url timed out"):
            await fetch_image(
                client, f"{receiver.base}/trickle", UrlPolicy(allow_private=True), "image_url", 2**20, 1.0
            )
        assert time.monotonic() - started < 5


async def test_a_name_that_rebinds_to_loopback_after_the_check_is_not_reached() -> None:
    """The check's lookup says public; any later lookup (httpx's own, before) says loopback, where a
    receiver listens. The connection goes to the approved address, so loopback never hears of it."""
    answers = iter(["93.184.215.14", "127.0.0.1"])  # a public address, then the rebound answer
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return [next(answers)]

    policy = UrlPolicy(resolve=rebinding)
    async with running_receiver() as receiver, httpx.AsyncClient(timeout=httpx.Timeout(1.0)) as client:
        port = httpx.URL(receiver.base).port
        with pytest.raises(httpx.TransportError):
            async with request(
                client, "POST", f"http://localhost:{port}/hook", policy, "webhook", content=b"{}"
            ):
                pass
    assert receiver.hooks == [] and asked == ["localhost"]


def test_a_pinned_https_request_keeps_the_name_for_tls_and_the_host_header() -> None:
    url, headers, extensions = pinned(
        httpx.URL("https://hooks.example:8443/h?token=x"), ip_address("2001:db8::5")
    )
    assert str(url) == "https://[2001:db8::5]:8443/h?token=x"
    assert headers == {"host": "hooks.example:8443"} and extensions == {"sni_hostname": "hooks.example"}
    plain, _, none = pinned(httpx.URL("http://hooks.example/h"), ip_address("93.184.215.14"))
    assert str(plain) == "http://93.184.215.14/h" and none == {}
