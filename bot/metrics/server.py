"""``LIKENESS_METRICS_PORT``: the metrics on a port of their own, with prometheus_client's own HTTP
server (a thread), for a bot run without the HTTP API (or to keep them on loopback while the API
faces a network). It checks no key: it listens on ``LIKENESS_METRICS_HOST``, 127.0.0.1 unless set."""

from __future__ import annotations

import ipaddress
import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

log = logging.getLogger(__name__)

STOP_WAIT = 5.0  # seconds to wait for the server's thread when stopping


class MetricsServer:
    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @classmethod
    def start(cls, registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
        """Listening once this returns; raises ``OSError`` when the address cannot be bound."""
        server, thread = start_http_server(port, addr=host, registry=registry)
        bound = server.server_port
        log.info("metrics on http://%s:%d/metrics", host, bound)
        if not is_loopback(host):
            log.warning("the metrics on %s:%d check no key: anyone who reaches it reads them", host, bound)
        return cls(server, thread)

    @property
    def port(self) -> int:
        return self.server.server_port

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(STOP_WAIT)


def is_loopback(host: str) -> bool:
    """Whether only this machine reaches ``host`` (an address, or ``localhost``)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
