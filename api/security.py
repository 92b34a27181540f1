"""Hardening of every answer: security headers, rate limits, CORS when configured, docs in development.

``install_security(app, settings)`` puts, from the outside in: the security headers (outside even
Starlette's error middleware, so a 500 carries them too), CORS (only with ``SDD_CORS_ORIGINS``;
outside the rate limit so a browser can read a 429), the rate limit (``api.rate_limit``), then a
cap on request bodies: 413 past ``REQUEST_BODY_MAX_BYTES`` (a job spec, a form), so no request
makes the server buffer an unbounded body. Multipart forms to the two upload routes are exempt
(``api.uploads`` streams them to disk under ``SDD_MAX_UPLOAD_BYTES``), and so are the parts of a
resumable dataset upload (each checked against its announced size as it is written).

Headers, each added unless the route set its own (the dashboard sends a page policy of its own):

- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``,
  ``Cross-Origin-Opener-Policy: same-origin``;
- ``Content-Security-Policy``: ``default-src 'none'; frame-ancestors 'none'`` for the API (a JSON
  answer is never a document that loads anything); the dashboard's policy under ``/ui`` (its own
  scripts, styles and images only, no inline code); Swagger UI's exact needs on ``/docs``;
- ``Cache-Control: no-store`` under ``/v1`` (tenant data stays out of shared caches);
- ``Strict-Transport-Security`` only for requests that came over https (behind a TLS proxy, run
  uvicorn with ``--proxy-headers`` so the scheme is known).

API docs: ``/docs`` is Swagger UI with every file served by the service itself (``api.docs``),
under a policy that allows the service's own files only; ReDoc is off. ``/openapi.json`` is always
served.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.docs import install_docs
from api.errors import error_response
from api.json_guard import JsonBodyGuardMiddleware
from api.rate_limit import RateLimitMiddleware
from service.settings import Settings

API_CSP = "default-src 'none'; frame-ancestors 'none'"
UI_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
REQUEST_BODY_MAX_BYTES = 1 << 20
STREAMED_UPLOADS = frozenset({("POST", "/v1/datasets"), ("POST", "/v1/models")})  # multipart forms
UPLOAD_PART = re.compile(r"/(v1|ui)/datasets/uploads/[^/]+/parts/[0-9]+")  # PUT: a part, streamed to the store

_COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def content_security_policy(path: str) -> str:
    """The default policy for an answer at ``path`` (a route may send its own instead)."""
    if path == "/ui" or path.startswith("/ui/"):
        return UI_CSP
    return API_CSP


class SecurityHeadersMiddleware:
    """Pure ASGI middleware adding the headers listed in the module docstring to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        defaults = [*_COMMON_HEADERS, ("Content-Security-Policy", content_security_policy(path))]
        if path == "/v1" or path.startswith("/v1/"):
            defaults.append(("Cache-Control", "no-store"))
        if scope.get("scheme") == "https":
            defaults.append(("Strict-Transport-Security", HSTS))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in defaults:
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestFramingMiddleware:
    """Requests whose framing a proxy could read differently are answered and the connection closed:
    400 for ``Content-Length`` together with ``Transfer-Encoding`` (a smuggling primitive behind a
    proxy that trusts the length: the request after it on the connection was answered too), 431
    for headers over ``max_header_bytes`` (h11 only caps headers that arrive in pieces)."""

    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self._problem(scope)
            if problem is not None:
                status, code, message = problem
                response = error_response(status, code, message, headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _problem(self, scope: Scope) -> tuple[int, str, str] | None:
        names = {name for name, _ in scope["headers"]}
        if b"content-length" in names and b"transfer-encoding" in names:
            return 400, "bad_request", "a request carries Content-Length or Transfer-Encoding, not both"
        size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])  # "name: value\r\n"
        if size > self.max_header_bytes:
            return 431, "headers_too_large", f"the request's headers take {size} bytes; at most {self.max_header_bytes}"
        return None


class BodySizeLimitMiddleware:
    """413 ``payload_too_large`` for a body over ``max_bytes``: on Content-Length before reading
    anything, else as soon as the bytes received pass it. Streamed uploads are exempt."""

    def __init__(self, app: ASGIApp, max_bytes: int = REQUEST_BODY_MAX_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _streamed(scope):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(413, "payload_too_large", self._message())
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes FastAPI's body parsing unchanged; api.errors renders it.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"the request body exceeds this service's limit of {self.max_bytes} bytes"


def _streamed(scope: Scope) -> bool:
    """A multipart upload to a route that streams it to disk, or a part of a resumable upload."""
    if scope["method"] == "PUT":
        return UPLOAD_PART.fullmatch(scope["path"]) is not None
    content_type = Headers(scope=scope).get("content-type", "")
    is_form = content_type.split(";")[0].strip().lower() == "multipart/form-data"
    return is_form and (scope["method"], scope["path"]) in STREAMED_UPLOADS


def _outermost(app: FastAPI, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
    """Wrap ``app``'s whole middleware stack, Starlette's ``ServerErrorMiddleware`` included."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: wrap(build())  # type: ignore[method-assign]


def install_security(app: FastAPI, settings: Settings) -> None:
    """JSON guard, body cap, request framing, rate limits, CORS (if configured), security headers and
    ``/docs`` (each ``add_middleware`` wraps the ones before: the cap applies before the guard reads)."""
    app.add_middleware(JsonBodyGuardMiddleware)
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(RequestFramingMiddleware, max_header_bytes=settings.http_max_header_bytes)
    if settings.rate_limit_per_minute > 0:
        app.add_middleware(RateLimitMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],  # PUT, DELETE: a resumable upload's parts, its abort
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Content-SHA256"],
            expose_headers=["Retry-After", "Idempotent-Replayed", "X-Content-SHA256"],
        )
    _outermost(app, SecurityHeadersMiddleware)
    install_docs(app)
