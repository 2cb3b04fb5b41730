"""pytest fixtures and helpers for running a real discord.py client against :class:`FakeDiscord`.

Import them from a conftest (``from tests.fakediscord.fixtures import fake_discord, fake_discord_options``)
or a test module. Override ``fake_discord_options`` in a module/class to change limits, e.g.
``return {"ack_deadline": 0.3, "heartbeat_interval": 0.05}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import discord
import pytest
import pytest_asyncio

from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


@pytest.fixture
def fake_discord_options() -> dict[str, Any]:
    """Keyword arguments for :class:`FakeDiscord` (limits overrides included); override per module."""
    return {}


@pytest_asyncio.fixture(loop_scope="function")
async def fake_discord(fake_discord_options: dict[str, Any]) -> AsyncIterator[FakeDiscord]:
    """A started fake with discord.py redirected to it; fails the test at teardown on any violation.

    Tests that provoke a violation on purpose remove it with ``fake_discord.take_violations(rule)``.

    ``loop_scope="function"`` is explicit because pyproject makes async fixtures default to the session
    loop while tests default to a per-test loop; the server must run on the loop the test (and the bot)
    runs on, or every request hangs.
    """
    fake = FakeDiscord(**fake_discord_options)
    await fake.start()
    fake.install()
    try:
        yield fake
    finally:
        await fake.close()
    fake.assert_no_violations()


@contextlib.asynccontextmanager
async def start_client(
    client: ClientT,
    fake: FakeDiscord,
    *,
    timeout: float = 10.0,
    guild_ready_timeout: float | None = 0.02,
) -> AsyncIterator[ClientT]:
    """Log ``client`` in against ``fake``, wait for ``on_ready``, and close it on exit.

    ``login`` runs ``setup_hook`` (so ``tree.sync()`` errors such as ``CommandSyncFailure`` raise here).
    discord.py waits ``guild_ready_timeout`` (2 s by default) after the last GUILD_CREATE before firing
    ``on_ready``; it is lowered on the client's connection state unless ``guild_ready_timeout`` is None.
    """
    fake.install()
    if guild_ready_timeout is not None:
        # Private attribute, but the only knob besides the constructor argument (which the bot under
        # test may not expose); it has been stable since discord.py 1.x.
        state = client._connection
        state.guild_ready_timeout = min(state.guild_ready_timeout, guild_ready_timeout)
    connect: asyncio.Task[None] | None = None
    ready: asyncio.Task[None] | None = None
    try:
        await client.login(fake.token or "fake-bot-token")
        connect = asyncio.create_task(client.connect(reconnect=True), name="fakediscord-client-connect")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({connect, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            if connect in done:
                connect.result()  # re-raise whatever stopped the client
            raise TimeoutError(fake.store._timeout_report("the client to become ready", timeout))
        yield client
    finally:
        if ready is not None:
            ready.cancel()
        await client.close()
        if connect is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, discord.DiscordException, OSError):
                await asyncio.wait_for(connect, 5.0)
