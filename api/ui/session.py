"""Signing in to the dashboard and guarding its forms: the token cookie and the CSRF cookie.

- ``sdd_ui_token`` holds the API token the user typed at ``/ui/login``: HttpOnly (page scripts
  cannot read it), SameSite=Strict (never sent on a request started by another site), path
  ``/ui``. It is checked with ``service.tokens.authenticate`` on every request, so revoking the
  token signs the dashboard out too.
- ``sdd_ui_csrf`` holds a random nonce. Every form carries a *signed* token in a hidden field:
  ``<nonce>.<HMAC(key, nonce | sha256(token cookie))>``, so it is bound both to this browser's
  nonce and to its session (the token cookie; empty before signing in), and only the server can
  make one (``settings.ui_secret_key``). A POST is refused unless the field's nonce equals the
  cookie's and its signature matches (``hmac.compare_digest``). A cookie planted by a sibling site
  gives an attacker no field that verifies, and a form from another session does not verify here.
- Over https both cookies are ``__Host-`` cookies (Secure, path ``/``, no Domain): no other
  host, not even a subdomain, can set or shadow them. Over plain http they keep their plain names.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep
from domain.text_rules import printable, text_problem
from service.db.models import Tenant
from service.tokens import authenticate

TOKEN_COOKIE = "sdd_ui_token"
CSRF_COOKIE = "sdd_ui_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
COOKIE_PATH = "/ui"
HOST_PREFIX = "__Host-"  # https only: Secure, Path=/, no Domain (RFC 6265bis)
LOGIN_PATH = "/ui/login"
HOME_PATH = "/ui"
# How a person gets a token, as typed on the server's machine (`sdd token create`'s real usage).
TOKEN_COMMAND = "sdd token create --tenant NAME"
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


class FormRefused(Exception):
    """A POSTed form field that is not storable text (NUL, a lone surrogate): 422, nothing done."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


# ---------------------------------------------------------------- cookie names and attributes


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_name(request: Request, base: str) -> str:
    """``__Host-<base>`` over https, ``<base>`` over plain http (where browsers refuse the prefix)."""
    return HOST_PREFIX + base if _https(request) else base


def _cookie_options(request: Request) -> dict[str, object]:
    return {
        "path": "/" if _https(request) else COOKIE_PATH,
        "httponly": True,
        "samesite": "strict",
        "secure": _https(request),
    }


def token_cookie(request: Request) -> str:
    return request.cookies.get(cookie_name(request, TOKEN_COOKIE), "")


# ---------------------------------------------------------------- the token cookie


def tenant_from_cookie(request: Request, session: Session) -> Tenant | None:
    """The tenant of the token cookie, or None when it is absent, malformed, unknown or revoked."""
    token = token_cookie(request)
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
    response.set_cookie(cookie_name(request, TOKEN_COOKIE), token, **_cookie_options(request))  # type: ignore[arg-type]


def clear_token_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(cookie_name(request, TOKEN_COOKIE), **_cookie_options(request))  # type: ignore[arg-type]


def login_url(next_path: str | None) -> str:
    return LOGIN_PATH + (f"?next={quote(next_path, safe='/')}" if next_path else "")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site), else the job list."""
    if not value or not value.startswith(HOME_PATH) or value.startswith(LOGIN_PATH):
        return HOME_PATH
    if "//" in value or "\\" in value or any(ord(c) < 0x20 for c in value):
        return HOME_PATH
    return value


# ---------------------------------------------------------------- the CSRF cookie and the signed field


def _well_formed(value: str | None) -> bool:
    return bool(value) and len(value or "") <= 2 * _CSRF_BYTES and (value or "").isascii()


def _nonce(request: Request) -> str:
    """This browser's CSRF nonce; a new one (set on the response by ``set_csrf_cookie``) if it has none."""
    current = request.cookies.get(cookie_name(request, CSRF_COOKIE))
    if _well_formed(current):
        return str(current)
    if not hasattr(request.state, "new_csrf"):
        request.state.new_csrf = secrets.token_urlsafe(_CSRF_BYTES)
    return str(request.state.new_csrf)


def _signature(request: Request, nonce: str) -> str:
    """HMAC of the nonce and this request's session (the token cookie's hash) under the server's key."""
    session_id = hashlib.sha256(token_cookie(request).encode()).hexdigest()
    key = request.app.state.settings.ui_secret_key.get_secret_value().encode()
    return hmac.new(key, f"{nonce}|{session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The value of the hidden CSRF field of the forms on this page: ``<nonce>.<signature>``."""
    nonce = _nonce(request)
    return f"{nonce}.{_signature(request, nonce)}"


def set_csrf_cookie(response: Response, request: Request) -> None:
    """Set the CSRF cookie when this request created the nonce (a first visit)."""
    value = getattr(request.state, "new_csrf", None)
    if value is not None:
        response.set_cookie(cookie_name(request, CSRF_COOKIE), value, **_cookie_options(request))  # type: ignore[arg-type]


async def checked_form(request: Request) -> dict[str, str]:
    """The POSTed form's text fields, after the signed-token check; ``CsrfRejected`` otherwise."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    for key, value in fields.items():
        problem = text_problem(key) or text_problem(value)
        if problem is not None:
            raise FormRefused(printable(key), problem)
    verify_csrf(request, fields.pop(CSRF_FIELD, ""))
    return fields


def checked_header(request: Request) -> None:
    """For our JS's requests that change state (the dataset upload): the signed token in the
    ``X-CSRF-Token`` header, checked as a form's field is; ``CsrfRejected`` otherwise."""
    verify_csrf(request, request.headers.get(CSRF_HEADER, ""))


def verify_csrf(request: Request, value: str) -> None:
    """``CsrfRejected`` unless ``value`` is a token this server signed for this browser and session."""
    nonce, _, signature = value.partition(".")
    cookie = request.cookies.get(cookie_name(request, CSRF_COOKIE), "")
    if not (_well_formed(cookie) and nonce and signature and nonce.isascii() and signature.isascii()):
        raise CsrfRejected()
    if not (
        hmac.compare_digest(nonce.encode(), cookie.encode())
        and hmac.compare_digest(signature.encode(), _signature(request, cookie).encode())
    ):
        raise CsrfRejected()


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]
CheckedHeader = Depends(checked_header)
