"""Connections that cannot tie the API up: a deadline for request headers and a cap per client.

uvicorn closes idle keep-alive connections, but a connection that has sent part of a request's
headers is neither idle nor a request: 1,000 sockets that each sent ``GET /healthz HTTP/1.1`` and
a ``Host`` line without the final blank line held every connection slot (``/healthz`` answered
503 to everyone), one trickling a header byte at a time stayed open 42 s. ``guarded_protocol``
gives uvicorn an HTTP protocol (its own h11 one) that

* closes a connection whose request headers are not complete ``header_timeout_s`` after the
  connection opened, or after the first byte of the next request on a kept-alive connection;
* closes a new connection at once when its client address already holds
  ``max_per_client`` connections (0: no cap), so one address cannot take every slot.

What is left to a proxy in front (see README, docker-compose.yml): bodies that trickle in, and
addresses that rotate.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.settings import Settings

log = logging.getLogger("uvicorn.error")


def guarded_protocol(settings: Settings) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the header deadline and per-client cap of ``settings``."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {
            "header_timeout_s": float(settings.http_header_timeout_s),
            "max_per_client": settings.http_max_connections_per_client,
            "open_by_client": Counter(),
        },
    )


class GuardedH11Protocol(H11Protocol):
    header_timeout_s: float = 10.0
    max_per_client: int = 0
    open_by_client: Counter[str] = Counter()  # one per server (``guarded_protocol``): its event loop's connections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        host = self.client[0] if self.client else None
        if host is not None and self.max_per_client and self.open_by_client[host] >= self.max_per_client:
            log.warning("refused a connection from %s: it already holds %d", host, self.max_per_client)
            transport.close()
            return
        if host is not None:
            self.open_by_client[host] += 1
            self._counted = host
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        if self._counted is not None:
            self.open_by_client[self._counted] -= 1
            if self.open_by_client[self._counted] <= 0:
                del self.open_by_client[self._counted]
            self._counted = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._header_deadline is None and self.conn.their_state is h11.IDLE:
            self._await_headers()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._headers_arrived()

    def _await_headers(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _headers_arrived(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            where = f" from {self.client[0]}" if self.client else ""
            log.info("closed a connection%s: no complete request headers within %.0f s", where, self.header_timeout_s)
            self.transport.close()
