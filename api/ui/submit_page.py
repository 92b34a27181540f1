"""The job form: shown from the catalog (or filled in from a job to clone), submitted as ``POST /v1/jobs`` is."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import SessionDep, SettingsDep
from api.ui.rendering import page
from api.ui.session import CheckedForm, PageTenant
from api.ui.submit_estimate import estimate_data, form_estimate
from api.ui.submit_form import (
    HYPER_FIELDS,
    TOP_FIELDS,
    FormErrors,
    clone_values,
    defaults_by_method,
    form_choices,
    initial_values,
    parse_job,
    submission_errors,
)
from domain.errors import DomainError
from domain.jobs import job_reads
from domain.jobs.cloning import copy_of_job
from domain.jobs.speed_estimates import dataset_sizes, measured_speeds
from domain.jobs.submission import submit_job
from service.db.models import Job, Tenant
from service.settings import Settings

router = APIRouter(prefix="/ui", include_in_schema=False)

JOB_ID_MAX = 40  # longer is no job id: looked up cut to this, so the refusal stays short


def _form_page(
    request: Request,
    session: SessionDep,
    settings: Settings,
    tenant: Tenant,
    values: dict[str, str] | None,
    errors: FormErrors,
    idempotency_key: str | None = None,
    *,
    cloning: Job | None = None,
    clone_error: str | None = None,
    unshown: list[str] | None = None,
) -> Response:
    choices = form_choices(session, settings, tenant.id)
    values = values or initial_values(choices)
    measurements = measured_speeds(session, tenant.id)
    sizes = dataset_sizes(session, settings, tenant.id)
    context = {
        "tenant_name": tenant.name,
        "choices": choices.offering(values),
        "values": values,
        "errors": errors,
        "hyper_fields": HYPER_FIELDS,
        "method_defaults": defaults_by_method(),
        "idempotency_key": idempotency_key or secrets.token_urlsafe(16),
        "cloning": cloning,
        "clone_error": clone_error,
        "unshown": unshown or [],
        "estimates": estimate_data(measurements, sizes),
        "estimate": form_estimate(measurements, sizes, values),
    }
    status = 422 if errors else 404 if clone_error else 200
    return page(request, "submit.html", context, status)


@router.get("/submit", response_class=HTMLResponse)
def submit_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant: PageTenant,
    from_job: Annotated[str | None, Query(alias="from")] = None,
) -> Response:
    """The job form; ``?from=JOB_ID`` fills it in from one of the tenant's jobs (its "Clone" button)."""
    if not from_job:
        return _form_page(request, session, settings, tenant, None, FormErrors())
    try:
        copy = copy_of_job(session, tenant.id, from_job.strip()[:JOB_ID_MAX])
    except DomainError as exc:
        message = f"{exc.message}; the form starts from the defaults."
        return _form_page(request, session, settings, tenant, None, FormErrors(), clone_error=message)
    values, unshown = clone_values(copy)
    return _form_page(request, session, settings, tenant, values, FormErrors(), cloning=copy.source, unshown=unshown)


def _clone_source(session: SessionDep, tenant: Tenant, job_id: str) -> Job | None:
    """The job a re-shown form was cloned from (its hidden ``from`` field), if still the tenant's."""
    try:
        return job_reads.get_job(session, tenant.id, job_id[:JOB_ID_MAX]) if job_id else None
    except DomainError:
        return None


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
    cloning = _clone_source(session, tenant, fields.get("from", ""))
    return _form_page(request, session, settings, tenant, values, errors, key, cloning=cloning)
