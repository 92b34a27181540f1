"""The job form: shown from the catalog, submitted through the same path as ``POST /v1/jobs``."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SessionDep, SettingsDep
from api.ui.rendering import page
from api.ui.session import CheckedForm, PageTenant
from api.ui.submit_form import (
    HYPER_FIELDS,
    TOP_FIELDS,
    FormErrors,
    defaults_by_method,
    form_choices,
    initial_values,
    parse_job,
    submission_errors,
)
from domain.errors import DomainError
from domain.submission import submit_job
from service.db.models import Tenant

router = APIRouter(prefix="/ui", include_in_schema=False)


def _form_page(
    request: Request,
    session: SessionDep,
    tenant: Tenant,
    values: dict[str, str] | None,
    errors: FormErrors,
    idempotency_key: str | None = None,
) -> Response:
    choices = form_choices(session, tenant.id)
    context = {
        "tenant_name": tenant.name,
        "choices": choices,
        "values": values or initial_values(choices),
        "errors": errors,
        "hyper_fields": HYPER_FIELDS,
        "method_defaults": defaults_by_method(),
        "idempotency_key": idempotency_key or secrets.token_urlsafe(16),
    }
    return page(request, "submit.html", context, 422 if errors else 200)


@router.get("/submit", response_class=HTMLResponse)
def submit_page(request: Request, session: SessionDep, tenant: PageTenant) -> Response:
    return _form_page(request, session, tenant, None, FormErrors())


@router.post("/submit", response_class=HTMLResponse)
def submit(
    request: Request, session: SessionDep, settings: SettingsDep, tenant: PageTenant, fields: CheckedForm
) -> Response:
    """Validate and submit exactly as ``POST /v1/jobs`` does; on a refusal show the form again."""
    key = fields.get("idempotency_key", "")[:255] or None
    spec, errors = parse_job(fields)
    if spec is not None:
        try:
            submission = submit_job(session, settings, tenant, spec, key)
        except DomainError as exc:
            session.rollback()
            errors = submission_errors(exc)
            if exc.code == "idempotency_conflict":
                key = None  # the form was sent before with other values; the next try is a new job
        else:
            return RedirectResponse(f"/ui/jobs/{submission.job.id}", 303)
    names = [*TOP_FIELDS, *(f.input_name for f in HYPER_FIELDS)]
    values = {name: fields.get(name, "") for name in names}
    return _form_page(request, session, tenant, values, errors, key)
