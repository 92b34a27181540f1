"""The dashboard at ``/ui``: sign-in routes here, ``install_ui(app)`` mounting every page on the API.

The job pages live in ``api.ui.job_pages`` (their CSV and TensorBoard downloads in
``api.ui.job_downloads``), the sweep pages in ``api.ui.sweep_pages``, the dataset
pages in ``api.ui.dataset_pages`` (their upload in ``api.ui.dataset_uploads``), the job form in
``api.ui.submit_page``, the sweep form in ``api.ui.sweep_form_page``.

Security design:

- **Sign-in.** ``/ui/login`` takes an API token, checks it with ``service.tokens.authenticate`` and
  keeps it in a cookie that page scripts cannot read (HttpOnly), that other sites cannot make the
  browser send (SameSite=Strict), Secure over https, scoped to ``/ui``. Each request checks it
  again, so revoking the token ends the dashboard session too. Without a valid cookie a page
  redirects to ``/ui/login`` (and back after signing in); a fetch by our JS gets 401.
- **Changes of state** (sign in, sign out, cancel, submit) are plain POST forms, no JS needed,
  each with a signed CSRF token bound to the browser's nonce cookie and to its session
  (``api.ui.session``). We chose forms over fetch() calls to the JSON API because the bearer
  token then never reaches page scripts and the buttons work without JS; SameSite=Strict
  already stops cross-site posts, the signed tokens make sure of it. Over https the cookies are
  ``__Host-`` cookies.
- **Tenancy.** Every lookup goes through the tenant-scoped helpers ``/v1`` uses
  (``domain.jobs.job_reads``, ``domain.ownership``) with sessions from
  ``app.state.sessionmaker``; another tenant's job is "not found" and never appears in any HTML.
- **Output.** Templates are autoescaped; pages carry a CSP that allows only our own script and
  style files (no inline code), so even a stored ``<script>`` in a job's metadata stays text.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.deps import SessionDep
from api.errors import error_body
from api.ui import dataset_pages, job_downloads, job_pages, submit_page, sweep_form_page, sweep_pages
from api.ui.rendering import STATIC_DIR, UiError, error_page, page
from api.ui.session import (
    LOGIN_PATH,
    TOKEN_COMMAND,
    CheckedForm,
    CsrfRejected,
    FormRefused,
    LoginRequired,
    clear_token_cookie,
    login_url,
    safe_next,
    set_token_cookie,
    tenant_from_cookie,
    token_cookie,
)
from service.tokens import authenticate

logger = logging.getLogger("api.ui")

router = APIRouter(prefix="/ui", include_in_schema=False)


# ---------------------------------------------------------------- sign in and out


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, session: SessionDep, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    if tenant_from_cookie(request, session) is not None:
        return RedirectResponse(safe_next(next_path), 303)
    return page(request, "login.html", {"next": safe_next(next_path), "error": None, "token_command": TOKEN_COMMAND})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, session: SessionDep, fields: CheckedForm) -> Response:
    token = fields.get("token", "").strip()
    tenant = authenticate(session, token) if token else None
    session.commit()
    target = safe_next(fields.get("next"))
    if tenant is None:
        error = f"That token is not valid (mistyped, or revoked). Create one with `{TOKEN_COMMAND}`."
        return page(request, "login.html", {"next": target, "error": error, "token_command": TOKEN_COMMAND}, 401)
    logger.info("dashboard: tenant %s signed in", tenant.name)
    response = RedirectResponse(target, 303)
    set_token_cookie(response, request, token)
    return response


@router.post("/logout")
def logout(request: Request, _fields: CheckedForm) -> Response:
    response = RedirectResponse(LOGIN_PATH, 303)
    clear_token_cookie(response, request)
    return response


# ---------------------------------------------------------------- wiring


async def _login_required(request: Request, exc: LoginRequired) -> Response:
    if exc.fetch:
        return JSONResponse(error_body("unauthorized", "sign in again at /ui/login"), 401)
    response = RedirectResponse(login_url(exc.next_path), 303)
    if token_cookie(request):
        clear_token_cookie(response, request)  # revoked or malformed: drop it
    return response


async def _csrf_rejected(request: Request, _: CsrfRejected) -> Response:
    message = (
        "This form was not sent from the dashboard page it belongs to (or the page is too old). "
        "Go back, reload the page and try again."
    )
    return error_page(request, 403, "Form refused", message)


async def _form_refused(request: Request, exc: FormRefused) -> Response:
    return error_page(request, 422, "Invalid request", f"{exc.field}: {exc.problem}; send valid UTF-8 text.")


async def _ui_error(request: Request, exc: UiError) -> Response:
    return error_page(request, exc.status_code, exc.title, exc.message)


def install_ui(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui`` and its CSS/JS at ``/ui/static``."""
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    pages = (job_pages, job_downloads, sweep_form_page, sweep_pages, dataset_pages, submit_page)  # /sweeps/new first
    for module_router in (router, *(module.router for module in pages)):
        app.include_router(module_router)
    app.add_exception_handler(LoginRequired, _login_required)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRejected, _csrf_rejected)  # type: ignore[arg-type]
    app.add_exception_handler(FormRefused, _form_refused)  # type: ignore[arg-type]
    app.add_exception_handler(UiError, _ui_error)  # type: ignore[arg-type]
