"""Signing in to the dashboard and guarding its forms: the token cookie and the CSRF cookie.

- ``sdd_ui_token`` holds the API token the user typed at ``/ui/login``: HttpOnly (page scripts
  cannot read it), SameSite=Strict (never sent on a request started by another site), Secure
  when the request came over https, path ``/ui``. It is checked with ``service.tokens.authenticate``
  on every request, so revoking the token signs the dashboard out too.
- ``sdd_ui_csrf`` is a random value (double-submit): every form carries it in a hidden field and
  every POST is refused unless field and cookie are equal (``hmac.compare_digest``). Another site
  can make a browser send the cookie but cannot read it to fill in the field.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep
from service.db.models import Tenant
from service.tokens import authenticate

TOKEN_COOKIE = "sdd_ui_token"
CSRF_COOKIE = "sdd_ui_csrf"
CSRF_FIELD = "csrf_token"
COOKIE_PATH = "/ui"
LOGIN_PATH = "/ui/login"
HOME_PATH = "/ui"
_CSRF_BYTES = 32
_TOKEN_MAX_CHARS = 200


class LoginRequired(Exception):
    """No valid token cookie: pages redirect to the login form, fetches from our JS get 401."""

    def __init__(self, next_path: str | None, *, fetch: bool = False) -> None:
        super().__init__("sign in to the dashboard")
        self.next_path = next_path
        self.fetch = fetch


class CsrfRejected(Exception):
    """A POST whose CSRF field does not match its cookie (a forged or stale form)."""


# ---------------------------------------------------------------- the token cookie


def tenant_from_cookie(request: Request, session: Session) -> Tenant | None:
    """The tenant of the token cookie, or None when it is absent, malformed, unknown or revoked."""
    token = request.cookies.get(TOKEN_COOKIE, "")
    if not token or len(token) > _TOKEN_MAX_CHARS:
        return None
    tenant = authenticate(session, token)
    session.commit()  # end the read transaction the lookup opened
    return tenant


def page_tenant(request: Request, session: SessionDep) -> Tenant:
    """The signed-in tenant; without one, the page redirects to the login form (and back after)."""
    tenant = tenant_from_cookie(request, session)
    if tenant is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method == "GET" else None)
    return tenant


def fetch_tenant(request: Request, session: SessionDep) -> Tenant:
    """The signed-in tenant for requests our own JS makes; 401 (not a redirect) without one."""
    tenant = tenant_from_cookie(request, session)
    if tenant is None:
        raise LoginRequired(None, fetch=True)
    return tenant


PageTenant = Annotated[Tenant, Depends(page_tenant)]
FetchTenant = Annotated[Tenant, Depends(fetch_tenant)]


def set_token_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_token_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        TOKEN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def login_url(next_path: str | None) -> str:
    return LOGIN_PATH + (f"?next={quote(next_path, safe='/')}" if next_path else "")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site), else the job list."""
    if not value or not value.startswith(HOME_PATH) or value.startswith(LOGIN_PATH):
        return HOME_PATH
    if "//" in value or "\\" in value or any(ord(c) < 0x20 for c in value):
        return HOME_PATH
    return value


# ---------------------------------------------------------------- the CSRF cookie


def _well_formed(value: str | None) -> bool:
    return bool(value) and len(value or "") <= 2 * _CSRF_BYTES and (value or "").isascii()


def csrf_token(request: Request) -> str:
    """This browser's CSRF value; a new one (set on the response by ``set_csrf_cookie``) if it has none."""
    current = request.cookies.get(CSRF_COOKIE)
    if _well_formed(current):
        return str(current)
    if not hasattr(request.state, "new_csrf"):
        request.state.new_csrf = secrets.token_urlsafe(_CSRF_BYTES)
    return str(request.state.new_csrf)


def set_csrf_cookie(response: Response, request: Request) -> None:
    """Set the CSRF cookie when this request created the value (a first visit)."""
    value = getattr(request.state, "new_csrf", None)
    if value is not None:
        response.set_cookie(
            CSRF_COOKIE,
            value,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


async def checked_form(request: Request) -> dict[str, str]:
    """The POSTed form's text fields, after the double-submit check; ``CsrfRejected`` on a mismatch."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    sent = fields.pop(CSRF_FIELD, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not (_well_formed(cookie) and sent and hmac.compare_digest(sent.encode(), cookie.encode())):
        raise CsrfRejected()
    return fields


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
