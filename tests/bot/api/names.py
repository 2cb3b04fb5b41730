"""Name resolution without DNS for the URL tests: a name can look public while the request itself
goes to an httpx MockTransport or a local receiver."""

from __future__ import annotations

from bot.api.urls import Resolver


def resolver(names: dict[str, str]) -> Resolver:
    """Each name to one address; any other name does not resolve."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise OSError(f"{host} does not resolve")
        return [names[host]]

    return resolve
