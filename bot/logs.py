"""The process's logging, for every entry point (the bot, the API, the command line, Ray workers):
one handler on the root logger, and every record redacted (``bot.redact``) before any handler sees it.

Redaction happens where records are made (the log record factory), so a handler added later (by a
library, or ``discord.utils.setup_logging``) gets redacted records too; the filter on the root's
handlers also covers records made some other way (``logging.makeLogRecord``). httpx and httpcore
log every request's full URL at INFO and DEBUG: they stay at WARNING unless ``http`` is on
(``LIKENESS_LOG_HTTP``), and even then their URLs are redacted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from bot.redact import add_secret, redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HTTP_LOGGERS = ("httpx", "httpcore")

_MARK = "likeness_redacted"
_traceback = logging.Formatter()


@dataclass(frozen=True, slots=True)
class LogSetup:
    """What a worker process needs to log as the coordinator does (secrets stay with the coordinator)."""

    level: int = logging.INFO
    http: bool = False


_current = LogSetup()


def redact_record(record: logging.LogRecord) -> None:
    """Replace the record's message, traceback and stack with their redacted text (once)."""
    if record.__dict__.get(_MARK):
        return
    try:
        message = record.getMessage()
    except Exception:  # the handler would print msg and args as they are: keep them masked too
        message = f"{record.msg!s} (arguments {record.args!r})"
    record.msg, record.args = redact(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _traceback.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record.__dict__[_MARK] = True


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class _RedactingFactory:
    def __init__(self, make: Any) -> None:
        self.make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.make(*args, **kwargs)
        redact_record(record)
        return record


def configure(level: int | str, *, http: bool = False, stream: TextIO | None = None) -> None:
    """At start-up: a handler on the root logger (unless it has one already), redaction, levels."""
    logging.basicConfig(level=level, format=FORMAT, stream=stream or sys.stderr)
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    if not isinstance(logging.getLogRecordFactory(), _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(logging.getLogRecordFactory()))
    tune(level, http=http)


def tune(level: int | str, *, http: bool, secrets: Iterable[str] = ()) -> None:
    """Once the settings are read: their level, whether HTTP requests are logged, the secrets they hold."""
    logging.getLogger().setLevel(level)
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if http else logging.WARNING)
    for secret in secrets:
        add_secret(secret)
    global _current
    _current = LogSetup(logging.getLogger().getEffectiveLevel(), http)


def current() -> LogSetup:
    return _current
