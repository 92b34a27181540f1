"""How the API process is served: uvicorn's options from the settings, and an access log without secrets.

- **Forwarded headers** (``X-Forwarded-For``/``-Proto``) are believed only from the addresses in
  ``SDD_FORWARDED_ALLOW_IPS`` (a load balancer); by default from nobody, so a client cannot pick
  the address the per-address rate limit counts by sending the header itself.
- **Slow and greedy clients**: idle keep-alive connections close after
  ``SDD_HTTP_KEEPALIVE_TIMEOUT_S``; a request's headers must be complete within
  ``SDD_HTTP_HEADER_TIMEOUT_S`` and one client address holds at most
  ``SDD_HTTP_MAX_CONNECTIONS_PER_CLIENT`` connections (``api.connection_guard``); at most
  ``SDD_HTTP_MAX_CONNECTIONS`` connections are served at once (503 past it); request headers are
  capped at ``SDD_HTTP_MAX_HEADER_BYTES`` (``api.security``). uvicorn has no timeout for a body
  that trickles in: put a proxy with a body timeout in front (see README, docker-compose.yml).
- **The access log** shows each request's path without its query string (where a user may have
  pasted a token): ``/v1/jobs?<query redacted>``.
"""

from __future__ import annotations

import logging
from typing import Any

from api.connection_guard import guarded_protocol
from service.settings import Settings

ACCESS_LOGGER = "uvicorn.access"
REDACTED_QUERY = "<query redacted>"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` that enforce the settings above."""
    trusted = settings.forwarded_allow_ips.strip()
    return {
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "timeout_keep_alive": settings.http_keepalive_timeout_s,
        "limit_concurrency": settings.http_max_connections or None,
        "h11_max_incomplete_event_size": settings.http_max_header_bytes,
        "http": guarded_protocol(settings),
    }


def redact_query(path: str) -> str:
    """``/v1/jobs?token=x`` -> ``/v1/jobs?<query redacted>``; a path without a query as it is."""
    head, sep, _ = path.partition("?")
    return f"{head}?{REDACTED_QUERY}" if sep else path


class RedactQueryStrings(logging.Filter):
    """Rewrites uvicorn's access records (client, method, path, http version, status) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def install_access_log_redaction() -> None:
    """Add the filter to uvicorn's access logger once per process."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactQueryStrings) for f in access.filters):
        access.addFilter(RedactQueryStrings())
