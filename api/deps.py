"""Typed dependencies of the routes: the settings, a database session, the caller's tenant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.rate_limit import mark_authenticated
from service.db.models import Tenant
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
    # End the read-only transaction: a long upload must not hold a database connection open.
    session.commit()
    return tenant


CurrentTenant = Annotated[Tenant, Depends(get_current_tenant)]
