"""Refuse hostile text before any route sees it: invalid Unicode or NUL in the URL's path or query
(``/v1/jobs?name=%00`` once reached PostgreSQL, which refuses NUL, as a 500), and in any string
of a JSON body (keys too), non-finite numbers (``NaN``, ``Infinity``, ``1e999``) and deep nesting
in it — 422 naming the parameter or field.

The rules are ``domain.text_rules``'; this middleware applies them to every request, so no route
can forget them. Bodies are already capped (``api.security``) when they arrive here. Malformed
JSON passes through: FastAPI answers it with its own ``json_invalid`` error.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from domain.errors import DomainError, InvalidRequest
from domain.text_rules import MAX_JSON_DEPTH, check_json_value, printable, text_problem

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def json_body_problem(body: bytes) -> DomainError | None:
    """Why this JSON body is refused, or None (also for a body that is not JSON at all)."""
    try:
        document = json.loads(body)  # NaN / Infinity literals and 1e999 become non-finite floats: refused below
    except RecursionError:
        return InvalidRequest(f"the JSON nests more than {MAX_JSON_DEPTH} levels deep")
    except ValueError:
        return None  # not JSON (or not UTF-8): FastAPI says so
    try:
        check_json_value(document)
    except DomainError as exc:
        return exc
    return None


def url_problem(scope: Scope) -> DomainError | None:
    """Why this request's path or query cannot be used as text (a NUL, a lone surrogate), or None."""
    problem = text_problem(scope.get("path", ""))
    if problem is not None:
        return InvalidRequest(f"the URL path {problem}", location=("path",))
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        problem = text_problem(name) or text_problem(value)
        if problem is not None:
            return InvalidRequest(f"query parameter {printable(name)!r} {problem}", location=(printable(name),))
    return None


class JsonBodyGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (bad_url := url_problem(scope)) is not None:
            response = error_response(422, bad_url.code, bad_url.message, bad_url.param)
            await response(scope, receive, send)
            return
        content_type = Headers(scope=scope).get("content-type", "") if scope["type"] == "http" else ""
        media = content_type.split(";")[0].strip().lower()
        if (
            scope["type"] != "http"
            or scope["method"] not in _BODY_METHODS
            or not (media == "application/json" or media.endswith("+json"))
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client went away
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except HTTPException as exc:  # the body cap, raised by the receive it wraps (api.security)
            response = error_response(exc.status_code, "payload_too_large", str(exc.detail))
            await response(scope, receive, send)
            return
        body = b"".join(chunks)
        problem = json_body_problem(body)
        if problem is not None:
            response = error_response(422, problem.code, problem.message, problem.param)
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
