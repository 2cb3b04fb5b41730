"""The process's logging: every record redacted, whichever handler writes it; httpx quiet unless asked."""

from __future__ import annotations

import io
import logging

import httpx

from bot import logs
from tests.bot.logging_state import fresh_logging

log = logging.getLogger("tests.bot.test_logs")


def test_a_handler_added_later_gets_redacted_records_too() -> None:
    """discord.utils.setup_logging, uvicorn's log config or a library may add handlers of their own."""
    with fresh_logging():
        configured = io.StringIO()
        logs.configure(logging.INFO, stream=configured)
        later, own = io.StringIO(), io.StringIO()
        logging.getLogger().addHandler(logging.StreamHandler(later))
        apart = logging.getLogger("tests.apart")  # a logger that does not propagate, with its handler
        apart.propagate = False
        apart.addHandler(logging.StreamHandler(own))
        try:
            log.info("POST %s", "https://hooks.example/in?token=s3cr3t-value")
            apart.warning("key %s", "lk_Zm9vYmFyYmF6cXV4")
        finally:
            apart.handlers.clear()
            apart.propagate = True
        assert "s3cr3t-value" not in configured.getvalue() + later.getvalue()
        assert "POST https://hooks.example/in?token=***" in configured.getvalue()
        assert "POST https://hooks.example/in?token=***" in later.getvalue()
        assert own.getvalue() == "key lk_***\n"


def test_tracebacks_are_redacted() -> None:
    with fresh_logging():
        stream = io.StringIO()
        logs.configure(logging.INFO, stream=stream)
        try:
            raise ConnectionError("could not reach https://alice:pa55w0rd-x@files.example/a.png")
        except ConnectionError:
            log.exception("fetch failed")
        text = stream.getvalue()
        assert "pa55w0rd-x" not in text
        assert "ConnectionError: could not reach https://***@files.example/a.png" in text


def test_httpx_requests_are_logged_only_when_asked() -> None:
    def request(client: httpx.Client) -> None:
        client.post("https://hooks.example/in?token=hook-s3cret")

    with (
        fresh_logging(),
        httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(204))) as client,
    ):
        stream = io.StringIO()
        logs.configure(logging.DEBUG, stream=stream)
        request(client)
        assert "HTTP Request" not in stream.getvalue()  # quiet even at DEBUG
        logs.tune(logging.INFO, http=True)
        request(client)
        text = stream.getvalue()
        assert 'HTTP Request: POST https://hooks.example/in?token=*** "HTTP/1.1 204 No Content"' in text
        assert "hook-s3cret" not in text
