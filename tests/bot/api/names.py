"""Name resolution without DNS for the URL tests: a name can look public while the request itself
goes to an httpx MockTransport or a local receiver."""

from __future__ import annotations

import contextlib
import ipaddress

from bot.api.urls import Resolver


def resolver(names: dict[str, str]) -> Resolver:
    """Each name to one address, an IP address to itself (as getaddrinfo does); no other name resolves."""

    async def resolve(host: str, port: int) -> list[str]:
        with contextlib.suppress(ValueError):
            return [str(ipaddress.ip_address(host))]
        if host not in names:
            raise OSError(f"{host} does not resolve")
        return [names[host]]

    return resolve
