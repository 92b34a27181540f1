"""Every request gets an id: the client's ``X-Request-ID`` when it is a plain token, a fresh one otherwise.

The id is echoed in the response's ``X-Request-ID`` header and carried by every log line written
while the request is served (``service.logs.bound``), so a user quoting it lets an operator find
the request's lines. A client's id is taken only when it is 1 to 64 characters of
``A-Z a-z 0-9 . _ : -``: anything else could forge or break log lines, and is replaced.
"""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import bound

REQUEST_ID_HEADER = "X-Request-ID"
SCOPE_KEY = "sdd.log_context"  # the request's log ids (request, tenant)
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _ACCEPTED.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds the request's id for its log lines and returns it in ``X-Request-ID`` (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with bound(request_id=request_id) as fields:
            scope[SCOPE_KEY] = fields  # for the 500 handler, which answers outside this middleware
            await self.app(scope, receive, send_with_id)
