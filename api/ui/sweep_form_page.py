"""The sweep form at ``/ui/sweeps/new``: shown from the catalog, submitted as ``POST /v1/sweeps`` is.

``POST /ui/sweeps/new`` reads the form (``api.ui.sweep_form``) into a ``SweepRequest`` and calls
``domain.sweeps.sweep_submission.submit_sweep`` as the REST route does (the same validation, the
same limits, the form's hidden idempotency key for a form sent twice); it redirects to the sweep's
page, or shows the form again with the values kept and each refusal beside its input.
``GET /ui/sweeps/new/preview`` answers our JS with the member count and the estimate of the form
as it stands (``api.ui.sweep_estimate``). Registered before ``api.ui.sweep_pages``, whose
``/ui/sweeps/{sweep_id}`` would take ``new`` for an id.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep
from api.ui.rendering import PAGE_HEADERS, page
from api.ui.session import CSRF_FIELD, CheckedForm, FetchTenant, PageTenant
from api.ui.submit_form import FormChoices, form_choices
from api.ui.sweep_estimate import SweepPreview, sweep_preview
from api.ui.sweep_form import (
    BASE_INPUTS,
    CHECKED,
    LIST_FIELDS,
    NAME_INPUT,
    TICKED_FIELDS,
    SweepFormErrors,
    checkbox_name,
    initial_values,
    parse_sweep,
    placeholders,
)
from domain.errors import DomainError
from domain.jobs.speed_estimates import dataset_sizes, measured_speeds
from domain.sweeps.sweep_submission import submit_sweep
from sdd_core.spec import METHODS, SD_METHODS
from service.db.models import Tenant
from service.settings import Settings

router = APIRouter(prefix="/ui", include_in_schema=False)

KEY_FIELD = "idempotency_key"
KEY_MAX_CHARS = 255
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _preview(session: Session, settings: Settings, tenant: Tenant, values: dict[str, str]) -> SweepPreview:
    _, body, errors = parse_sweep(values)
    measurements = measured_speeds(session, tenant.id)
    sizes = dataset_sizes(session, settings, tenant.id)
    return sweep_preview(measurements, sizes, values, body, errors.in_grid(), settings.max_sweep_size)


def _checkbox(field: str, value: str, label: str) -> dict[str, str]:
    """A checkbox: its input name (``student:tv/resnet18``), an HTML id without ``:`` or ``/``, its label."""
    name = checkbox_name(field, value)
    return {"name": name, "id": "f-" + _ID_UNSAFE.sub("-", name), "label": label}


def _choices(choices: FormChoices) -> dict[str, Any]:
    """The selects' options, and the methods' and students' checkboxes."""
    return {
        "datasets": choices.datasets,
        "unavailable": choices.unavailable,  # built-in datasets not on this server: listed, not selectable
        "dataset_note": choices.dataset_note,
        "teachers": choices.teachers,
        "inits": choices.inits,
        "methods": [_checkbox("method", m, f"{m} (scale decoupled)" if m in SD_METHODS else m) for m in METHODS],
        "students": [_checkbox("student", s, s) for s in choices.students],
    }


def _form_page(
    request: Request,
    session: Session,
    settings: Settings,
    tenant: Tenant,
    values: dict[str, str] | None,
    errors: SweepFormErrors,
    idempotency_key: str | None = None,
) -> Response:
    choices = form_choices(session, settings, tenant.id)
    values = values or initial_values(choices)
    context = {
        "tenant_name": tenant.name,
        "choices": _choices(choices.offering(values)),
        "values": values,
        "checked": CHECKED,
        "errors": errors,
        "placeholders": placeholders(choices),
        "idempotency_key": idempotency_key or secrets.token_urlsafe(16),
        "preview": _preview(session, settings, tenant, values),
    }
    return page(request, "sweep_new.html", context, 422 if errors else 200)


@router.get("/sweeps/new", response_class=HTMLResponse)
def new_sweep_page(request: Request, session: SessionDep, settings: SettingsDep, tenant: PageTenant) -> Response:
    """The sweep form, filled in with the job form's safe first values."""
    return _form_page(request, session, settings, tenant, None, SweepFormErrors())


@router.get("/sweeps/new/preview")
def new_sweep_preview(request: Request, session: SessionDep, settings: SettingsDep, tenant: FetchTenant) -> Response:
    """The member count and the estimate of the form's fields (sent as the query), for our JS."""
    values = {name: value for name, value in request.query_params.items() if name != CSRF_FIELD}
    preview = _preview(session, settings, tenant, values)
    return JSONResponse(preview.as_json(), headers={"Cache-Control": PAGE_HEADERS["Cache-Control"]})


def _kept(fields: dict[str, str]) -> dict[str, str]:
    """The posted values the form shows again: its inputs and the ticked checkboxes."""
    shown = {*BASE_INPUTS, *LIST_FIELDS, NAME_INPUT}
    boxes = tuple(checkbox_name(field, "") for field in TICKED_FIELDS)
    return {name: value for name, value in fields.items() if name in shown or name.startswith(boxes)}


@router.post("/sweeps/new", response_class=HTMLResponse)
def create_sweep(
    request: Request, session: SessionDep, settings: SettingsDep, tenant: PageTenant, fields: CheckedForm
) -> Response:
    """Validate and submit exactly as ``POST /v1/sweeps`` does; on a refusal show the form again."""
    key = fields.get(KEY_FIELD, "")[:KEY_MAX_CHARS] or None
    sweep_request, _, errors = parse_sweep(fields)
    if sweep_request is not None:
        try:
            submission = submit_sweep(session, settings, tenant, sweep_request, key)
        except DomainError as exc:
            session.rollback()
            errors.at(exc.location, exc.message)
            if exc.code == "idempotency_conflict":
                key = None  # the form was sent before with other values; the next try is a new sweep
        else:
            return RedirectResponse(f"/ui/sweeps/{submission.sweep.id}", 303)
    return _form_page(request, session, settings, tenant, _kept(fields), errors, key)
