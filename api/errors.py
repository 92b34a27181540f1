"""One error envelope for every 4xx/5xx answer: ``{"error": {"code", "message", "param"}}``.

``code`` is stable and machine-readable, ``message`` tells the user what to change, ``param``
names the request field at fault (``hyperparameters.lr``, ``teacher.job``, ``file``) or is null.
Handlers here turn every way a request can fail into that shape: the domain's refusals
(``domain.errors``, each class one status), our own HTTP-only ``ApiError`` (401, 413, …), FastAPI's
validation errors, Starlette's 404/405, ``sdd_core`` errors, a database that cannot be reached
(503 with ``Retry-After``: the request may simply be sent again), one without the schema yet (503
``database_not_migrated``: a server still starting, or one nobody migrated), and anything
unexpected (500, logged, never echoed to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.request_ids import REQUEST_ID_HEADER
from api.request_ids import SCOPE_KEY as LOG_CONTEXT_SCOPE_KEY
from domain.errors import Conflict, DomainError, InvalidRequest, NotFound, TooManyJobs, dotted
from sdd_core.errors import SDDError, SpecError
from service.logs import bound

logger = logging.getLogger("api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


class ApiError(Exception):
    """An error answer: raised anywhere below a route, rendered in the envelope by the handler."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.param = param
        self.headers = dict(headers or {})


# The HTTP status of each kind of domain refusal (the most specific class listed first wins).
DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (TooManyJobs, 429),
    (InvalidRequest, 422),
)


def domain_status(exc: DomainError) -> int:
    return next((status for kind, status in DOMAIN_STATUS if isinstance(exc, kind)), 422)


def error_body(code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "param": param}}


def error_response(
    status_code: int,
    code: str,
    message: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, param), status_code=status_code, headers=dict(headers or {}))


def field_path(loc: Sequence[str | int]) -> str | None:
    """``("body", "hyperparameters", "lr")`` -> ``hyperparameters.lr``; list indices as ``[i]``."""
    parts = list(loc)
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return dotted([part for part in parts if isinstance(part, int) or not _is_type_tag(part)])


def _is_type_tag(part: str) -> bool:
    """Pydantic adds union members / wrapper names (``function-after[...]``) to some locations."""
    return "[" in part and part.endswith("]")


def describe_validation_error(error: Mapping[str, Any]) -> tuple[str | None, str]:
    """(param, message) of one pydantic error, written for a person."""
    param = field_path(error.get("loc", ()))
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    raw = str(error.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        return param, f"{param}: unknown field; remove it (check its spelling against the documented fields)"
    if kind in {"literal_error", "enum"} and "expected" in ctx:
        got = error.get("input")
        return param, f"{param}: {got!r} is not allowed; allowed: {ctx['expected']}"
    if kind == "missing":
        return param, f"{param}: field required"
    if kind == "json_invalid":
        return None, f"the body is not valid JSON ({ctx.get('error', raw)})"
    if kind == "value_error":
        text = str(ctx.get("error", raw.removeprefix("Value error, ")))
        return param, f"{param}: {text}" if param else text
    return param, f"{param}: {raw}" if param else raw


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status_code, exc.code, exc.message, exc.param, exc.headers)


async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
    return error_response(domain_status(exc), exc.code, exc.message, exc.param)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and message == "Not Found":
        message = "no such route; see /docs or /openapi.json for the API"
    if exc.status_code == 400 and message == "There was an error parsing the body":  # FastAPI's words
        message = "the body could not be read; send JSON encoded as UTF-8 (or the form the route documents)"
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        message = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
    return error_response(exc.status_code, code, message, None, headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's Allow names only the first route's)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if not errors:
        return error_response(422, "validation_error", "the request is invalid")
    param, message = describe_validation_error(errors[0])
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return error_response(422, "validation_error", message, param)


async def _spec_error(_: Request, exc: SpecError) -> JSONResponse:
    return error_response(422, exc.code, exc.message, exc.field)


async def _sdd_error(_: Request, exc: SDDError) -> JSONResponse:
    return error_response(422, exc.code, exc.message)


DATABASE_RETRY_AFTER_S = 5
NOT_MIGRATED_ADVICE = (
    "the server is starting (`sdd up` and the deployment's migrate step migrate it first; retry in a few "
    "seconds), or its database was never migrated (run `sdd migrate` on the server)"
)
UNDEFINED_TABLE_SQLSTATE = "42P01"  # PostgreSQL's undefined_table


def missing_table(exc: DBAPIError) -> bool:
    """Whether the database said a table does not exist: its schema is not (yet) migrated."""
    driver_error = exc.orig
    return getattr(driver_error, "sqlstate", None) == UNDEFINED_TABLE_SQLSTATE or "no such table" in str(driver_error)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A query on a database without this code's tables (503, transient while a server starts);
    otherwise a database unavailable (``OperationalError``) or a bug (anything else)."""
    if isinstance(exc, DBAPIError) and missing_table(exc):
        logger.error("database not migrated on %s %s: %s", request.method, request.url.path, exc.orig)
        response = error_response(
            503, "database_not_migrated", f"the database has no tables yet: {NOT_MIGRATED_ADVICE}"
        )
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
    if isinstance(exc, OperationalError):
        return await _database_unavailable(request, exc)
    return await _unhandled(request, exc)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """Connection refused or lost, a full connection pool, a lock or statement timeout: transient."""
    logger.error(
        "database unavailable on %s %s: %s",
        request.method,
        request.url.path,
        getattr(exc, "orig", None) or exc.__class__.__name__,
    )
    response = error_response(
        503, "database_unavailable", "the job database is unreachable or busy; retry the request shortly"
    )
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    """Starlette answers a 500 outside every middleware: the request's log ids are read from its scope."""
    context = request.scope.get(LOG_CONTEXT_SCOPE_KEY) or {}
    request_id = context.get("request_id")
    with bound(**context):
        logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    message = "the server failed to handle this request; it has been logged"
    response = error_response(500, "internal_error", f"{message} (request id {request_id})" if request_id else message)
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through the envelope."""
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(SpecError, _spec_error)  # type: ignore[arg-type]
    app.add_exception_handler(SDDError, _sdd_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(ProgrammingError, _database_error)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(Exception, _unhandled)
