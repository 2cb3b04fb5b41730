"""``python -m bot run`` with the API on, logging as the command line sets it up, through a Discord
interaction, a button, ``/apikey create`` (the key and its webhook secret go back through discord.py,
which logs request bodies at DEBUG), a metrics scrape with its key, and an API job with a webhook
``?token=…`` and an ``image_url`` with credentials and a presigned signature: no secret any of them
used reaches the log, at INFO, at DEBUG (discord.py's, aiosqlite's, uvicorn's loggers included), or
with LIKENESS_LOG_HTTP on (httpx's and httpcore's); the lines that carried them are still there, masked."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot import logs
from bot.actions.apikeys import ApiKeys, NewKey
from bot.app.settings import Settings
from bot.cli import log_settings
from bot.cli.run import serve
from bot.tiny import TinyBundle
from storage import ApiKeyRepository, Database
from storage.permissions import make_private_dirs
from tests.bot.api.harness import api_settings, photo
from tests.bot.api.receiver import running_receiver
from tests.bot.api.test_server import free_port
from tests.bot.logging_state import fresh_logging
from tests.cogs.harness import ephemeral_reply, generate, result_message, wait_job_message
from tests.fakediscord import FakeDiscord

BOT_TOKEN = "likeness-bot-token-not-shaped-like-discords"  # masked because the settings hold it
HOOK_TOKEN = "hook-query-token-0c9f1e"
IMAGE_PASSWORD = "image-password-7d2a"
SIGNATURE = "amz-signature-51be0f"
METRICS_KEY = "metrics-key-not-shaped-like-anything-9e1"


@pytest.fixture
def fake_discord_options() -> dict[str, Any]:
    return {"token": BOT_TOKEN}


async def new_key(settings: Settings, user: int) -> NewKey:
    """``api-key create``, before the bot starts (its log is not the one under test)."""
    make_private_dirs(settings.data_dir)
    db = await Database.open(settings.database_path)
    try:
        return await ApiKeys(ApiKeyRepository(db)).create(user)
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("level", "verbose", "http"),
    [
        ("INFO", False, False),
        ("DEBUG", False, False),
        ("INFO", True, False),
        ("INFO", False, True),
        ("DEBUG", False, True),
    ],
    ids=["info", "LIKENESS_LOG_LEVEL=DEBUG", "-v", "LIKENESS_LOG_HTTP", "DEBUG-and-http"],
)
async def test_no_secret_reaches_the_log(
    fake_discord: FakeDiscord, tiny_bundle: TinyBundle, data_dir: Path, level: str, verbose: bool, http: bool
) -> None:
    fake = fake_discord
    port = free_port()
    settings = api_settings(
        tiny_bundle,
        data_dir,
        api_port=port,
        discord_token=BOT_TOKEN,
        api_allow_private_urls=True,
        log_level=level,
        log_http=http,
        metrics_key=METRICS_KEY,
    )
    key = await new_key(settings, fake.user.id)
    auth = {"Authorization": f"Bearer {key.key}"}
    log = io.StringIO()
    async with running_receiver() as receiver:
        receiver.files["face.png"] = photo()
        host = receiver.base.removeprefix("http://")
        image_url = f"http://likeness:{IMAGE_PASSWORD}@{host}/files/face.png?X-Amz-Signature={SIGNATURE}"
        with fresh_logging():
            # What ``python -m bot [-v] run`` does before it serves.
            logs.configure(logging.DEBUG if verbose else logging.INFO, stream=log)
            log_settings.apply(settings, verbose=verbose)
            bot = asyncio.create_task(serve(settings, guild_ready_timeout=0.02))
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                    async with asyncio.timeout(60):
                        while not fake.synced_commands:
                            await asyncio.sleep(0.05)
                        while True:
                            with contextlib.suppress(httpx.TransportError):
                                if (await client.get("/v1/health")).status_code == 200:
                                    break
                            await asyncio.sleep(0.05)
                    interaction = await generate(fake, fake.user, "a lighthouse")
                    job_id = await wait_job_message(interaction)
                    result = await result_message(interaction)
                    button = await fake.click(fake.user, result, f"lk:reroll:{job_id}")
                    await result_message(button)
                    created = await fake.slash(fake.user, "apikey", {"name": "ci"}, subcommand="create")
                    shown = (await ephemeral_reply(created)).content
                    scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_KEY}"})
                    assert scraped.status_code == 200, scraped.text
                    job = {
                        "prompt": "a portrait",
                        "mode": "img2img",
                        "image_url": image_url,
                        "webhook": f"{receiver.base}/hook?token={HOOK_TOKEN}",
                    }
                    accepted = await client.post("/v1/jobs", json=job, headers=auth)
                    assert accepted.status_code == 202, accepted.text
                    await receiver.wait_hooks(2)
            finally:
                bot.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await bot
    text = log.getvalue()
    used = {
        "the bot token": BOT_TOKEN,
        "the API key": key.key,
        "the webhook secret": key.webhook_secret.removeprefix("whsec_"),
        "the webhook's query token": HOOK_TOKEN,
        "the image URL's password": IMAGE_PASSWORD,
        "the presigned signature": SIGNATURE,
        "the interaction token": interaction.token,
        "the button's interaction token": button.token,
        "/apikey create's interaction token": created.token,
        "the key /apikey create made": re.findall(r"lk_[A-Za-z0-9_-]+", shown)[0],
        "its webhook secret": re.findall(r"whsec_([A-Za-z0-9+/=]+)", shown)[0],
        "the metrics key": METRICS_KEY,
    }
    assert [what for what, secret in used.items() if secret in text] == []
    assert f"HTTP API on http://127.0.0.1:{port}" in text
    if logging.DEBUG in (logging.getLevelName(level), logging.DEBUG if verbose else 0):
        assert f"/interactions/{interaction.id}/***/callback" in text  # discord.py's request line, masked
    if level == "DEBUG" or verbose:  # the libraries' own DEBUG lines were there to be checked
        for logger in ("discord.http", "discord.gateway", "aiosqlite"):
            assert f" DEBUG {logger}: " in text, logger
    assert " uvicorn.error: " in text
    if http:
        assert "/hook?token=*** " in text and "likeness:" not in text  # httpx's request line, masked
    else:
        assert "HTTP Request:" not in text
