"""Logging as a new process has it, for the tests of what the entry points configure; the test
runner's own logging is put back afterwards."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from bot import logs, redact


@contextlib.contextmanager
def fresh_logging() -> Iterator[None]:
    """No root handlers (so ``logs.configure`` adds its own, as at start-up); all restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    http = {name: logging.getLogger(name).level for name in logs.HTTP_LOGGERS}
    factory = logging.getLogRecordFactory()
    secrets, current = redact._secrets, logs._current
    for handler in handlers:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, value in http.items():
            logging.getLogger(name).setLevel(value)
        logging.setLogRecordFactory(factory)
        redact._secrets, logs._current = secrets, current
