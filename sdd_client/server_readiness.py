"""Whether a server is ready to be logged in to, and what to tell a user while it is starting.

A server that is starting refuses connections (``sdd up`` migrates its database before its API
listens) or answers 503 on ``/readyz`` (its database not migrated yet; or its database or broker
unreachable). ``wait_until_ready`` asks ``/readyz`` (no token needed) until it answers 200, for at
most ``wait_s`` seconds; with ``wait_s`` 0 it asks once. Either way, a server that is not ready
raises :class:`ServerNotReady`, saying to retry in a few seconds or to wait, not to migrate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sdd_client.client import SDDClient
from sdd_client.errors import ServerNotReady, ServiceUnreachable
from sdd_client.retries import RetryPolicy

POLL_S = 1.0
ASK_ONCE = RetryPolicy(give_up_after=0)


def wait_until_ready(client: SDDClient, wait_s: float, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once ``client``'s server answers ``/readyz`` with 200; ServerNotReady when it still
    does not after ``wait_s`` seconds (0: asked once)."""
    deadline = time.monotonic() + wait_s
    saved, client.retry = client.retry, ASK_ONCE  # this loop is the retrying
    try:
        while True:
            reason = _not_ready_because(client)
            if reason is None:
                return
            if time.monotonic() + POLL_S > deadline:
                raise ServerNotReady(client.url, reason, waited_s=wait_s)
            sleep(POLL_S)
    finally:
        client.retry = saved


def _not_ready_because(client: SDDClient) -> str | None:
    """None when the server is ready, else what it did instead."""
    try:
        return None if client.ready() else "it answers, but GET /readyz says 503: not ready yet"
    except ServiceUnreachable as exc:
        return f"nothing answers: {exc.reason}"
