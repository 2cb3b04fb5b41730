"""Starting or joining Ray for the workers, with a local instance reachable from this machine only.

Ray's GCS, raylet and worker ports take unauthenticated calls (token auth aside) and unpickle
what they receive. ``ray.init()`` with no address binds them to the node's outward address (all
interfaces for some): anyone on the network could run code in the bot's processes. Ray has no
bind option in ``ray.init``; it binds to the node IP it picks, and it picks loopback when its
multi-machine mode is off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read into
``ray_constants.ENABLE_RAY_CLUSTER``). So a local start turns that off for the call, and asks for
127.0.0.1. Joining a cluster (``LIKENESS_RAY_ADDRESS``) leaves Ray's own settings alone: such a
cluster must sit on a private network or behind Ray's TLS (README, "Scaling out").
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

LOOPBACK = "127.0.0.1"
CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def start_ray(address: str | None, **options: Any) -> None:
    """``ray.init``: join ``address``, or start an instance bound to loopback when there is none."""
    import ray

    if address:
        ray.init(address=address, **options)
        return
    with _single_machine():
        ray.init(_node_ip_address=LOOPBACK, **options)


@contextlib.contextmanager
def _single_machine() -> Iterator[None]:
    """Ray's single-machine mode while the instance starts: its node IP, and so its binds, are
    loopback. The environment variable reaches the processes Ray starts; the constant, a Ray
    already imported (it reads the variable once, at import)."""
    from ray._private import ray_constants

    before_env, before = os.environ.get(CLUSTER_SWITCH), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[CLUSTER_SWITCH] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before
        if before_env is None:
            os.environ.pop(CLUSTER_SWITCH, None)
        else:
            os.environ[CLUSTER_SWITCH] = before_env
