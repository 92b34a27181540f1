"""The dashboard's Jinja2 environment (autoescaped), its filters, and how a page is answered.

Every page goes out with a Content-Security-Policy that allows only our own scripts, styles and
images (no inline script or style, no frames), ``no-store`` caching (pages show tenant data), and
the CSRF cookie when the browser has none yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.errors import domain_status
from api.schemas.common import as_utc
from api.ui.session import CSRF_FIELD, csrf_token, set_csrf_cookie
from domain.errors import DomainError
from domain.status import TERMINAL

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# An SVG opened on its own must not run anything, whatever text ended up inside it.
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def format_time(value: datetime | None) -> str:
    """``2026-01-31 14:05:09 UTC``, or an em dash."""
    value = as_utc(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def format_percent(value: Any) -> str:
    """An accuracy in percent with two decimals, or an em dash when unknown."""
    return f"{float(value):.2f}%" if isinstance(value, (int, float)) else "—"


def format_share(value: Any) -> str:
    """A fraction (e.g. the complementary-region share) in percent, or an em dash."""
    return f"{100 * float(value):.1f}%" if isinstance(value, (int, float)) else "—"


def format_number(value: Any) -> str:
    """A metric or hyper-parameter as a person reads it (4 significant digits for floats)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "—"}[value]
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(format_number(v) for v in value)
    return str(value)


def format_json(value: Any) -> str:
    """A JSON value pretty-printed as text (escaped like any other text by the template)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def as_options(values: Any) -> list[tuple[str, str]]:
    """(value, label) pairs of a plain list, for a select whose labels are its values."""
    return [(str(v), str(v)) for v in values]


def field_id(name: str) -> str:
    """The HTML id of a form input: ``hyperparameters.lr`` -> ``f-hyperparameters-lr``."""
    return "f-" + name.replace(".", "-")


def format_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"], default_for_string=True, default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(
    time=format_time,
    percent=format_percent,
    num=format_number,
    bytes=format_bytes,
    pretty_json=format_json,
    share=format_share,
    as_options=as_options,
)
environment.globals.update(terminal_statuses=TERMINAL, csrf_field=CSRF_FIELD, field_id=field_id)
templates = Jinja2Templates(env=environment)


def page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render ``template`` for ``request`` with the dashboard's headers and the CSRF value."""
    response = templates.TemplateResponse(
        request,
        template,
        {"csrf_token": csrf_token(request), **context},
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
    set_csrf_cookie(response, request)
    return response


def error_page(
    request: Request, status_code: int, title: str, message: str, *, tenant_name: str | None = None
) -> HTMLResponse:
    """A page that says what went wrong and what to do; ``status_code`` is the HTTP status."""
    return page(
        request,
        "error.html",
        {"title": title, "message": message, "status_code": status_code, "tenant_name": tenant_name},
        status_code,
    )


class UiError(Exception):
    """A refusal shown as a page: HTTP status, a title and what the user can do."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message


@contextmanager
def shown_as_page() -> Iterator[None]:
    """Turn a ``DomainError`` from the shared reads and rules (404, 409, 422) into an error page."""
    try:
        yield
    except DomainError as exc:
        status = domain_status(exc)
        titles = {404: "Not found", 409: "Not possible now", 422: "Invalid request"}
        raise UiError(status, titles.get(status, "Error"), exc.message) from exc
