"""Typed dependencies of the routes: the settings, a database session, the caller's tenant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.rate_limit import mark_authenticated
from domain.jobs.submission import IDEMPOTENCY_KEY_MAX
from service.db.models import Tenant
from service.logs import add_to_context
from service.settings import Settings
from service.tokens import authenticate

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token: `Authorization: Bearer <token>` (create one with `sdd token create`).",
)


def get_app_settings(request: Request) -> Settings:
    """The settings ``create_app`` was built with (read once per process)."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed afterwards (rolled back if left uncommitted)."""
    with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def get_current_tenant(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Tenant:
    """The tenant of the bearer token; 401 without a valid one."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing API token; send the header 'Authorization: Bearer <token>'")
    tenant = authenticate(session, credentials.credentials)
    if tenant is None:
        raise _unauthorized("invalid or revoked API token")
    mark_authenticated(request, credentials.credentials)  # the rate limit now counts per token
    add_to_context(tenant_id=tenant.id)  # the request's later log lines name the tenant
    # End the read-only transaction: a long upload must not hold a database connection open.
    session.commit()
    return tenant


CurrentTenant = Annotated[Tenant, Depends(get_current_tenant)]


def _idempotency_key(what: str) -> Any:
    """The optional ``Idempotency-Key`` header of a submission of ``what`` ("job", "sweep")."""
    return Header(
        alias="Idempotency-Key",
        max_length=IDEMPOTENCY_KEY_MAX,
        description=f"Retrying with the same key and body returns the same {what} instead of a new one.",
    )


JobIdempotencyKey = Annotated[str | None, _idempotency_key("job")]
SweepIdempotencyKey = Annotated[str | None, _idempotency_key("sweep")]


def mark_replayed(response: Response, replayed: bool) -> None:
    """``Idempotent-Replayed: true`` on the answer to a submission its key had already made."""
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
