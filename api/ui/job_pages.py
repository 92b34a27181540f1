"""The job pages: the list (and its live JSON), one job (live part, curves, student, cancel, resume), comparison.

The curves are drawn in the browser (``static/charts.js``) from ``metrics.json``; the server-drawn SVG is the
page's picture without JS, and SVG and PNG are its downloads.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.artifact_response import artifact_response
from api.curves_response import curves_response
from api.deps import SessionDep, SettingsDep
from api.ui import job_views
from api.ui.rendering import IMAGE_CSP, UiError, page, shown_as_page
from api.ui.session import CheckedForm, FetchTenant, PageTenant
from domain.errors import Conflict, DomainError, TooManyJobs
from domain.jobs import job_reads
from domain.jobs.cancellation import cancel_job as cancel_owned_job
from domain.jobs.resumption import RESUMABLE
from domain.jobs.resumption import resume_job as resume_owned_job
from domain.status import CANCELLABLE, JOB_STATUSES, TERMINAL, JobStatus
from sdd_client.plot_formats import MEDIA_TYPES, PlotFormat
from service.db.models import Job, Tenant

logger = logging.getLogger("api.ui")

router = APIRouter(prefix="/ui", include_in_schema=False)

JobId = Annotated[str, Path(max_length=40)]
# The job page asks for ?epoch=<last epoch>, so a cached image is never stale; a comparison has no such key.
IMAGE_HEADERS = {"Content-Security-Policy": IMAGE_CSP, "Cache-Control": "private, max-age=300"}
OVERLAY_HEADERS = {"Content-Security-Policy": IMAGE_CSP, "Cache-Control": "no-store"}
NOTICES = {
    "cancelled": "Cancelled before it started.",
    "cancelling": "Cancel requested: the job stops at the next batch.",
    "finished": "The job had already finished; there was nothing to cancel.",
    "resumed": "Queued again: a worker continues from the job's newest checkpoint.",
    "not_resumable": "Only a cancelled or failed job can be resumed.",
    "too_many_jobs": "You have as many jobs queued or running as this service allows; resume it when one ends.",
}


def _job(session: Session, tenant: Tenant, job_id: str) -> Job:
    with shown_as_page():
        return job_reads.get_job(session, tenant.id, job_id)


def _ids(values: list[str]) -> list[str]:
    """Job ids from ``?ids=a,b&ids=c`` forms, in order, without blanks or repeats."""
    ids: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in ids:
                ids.append(part[:40])
    return ids


# ---------------------------------------------------------------- jobs


SWEEP_ID = re.compile(r"swp_[0-9a-f]{24}")
FilterText = Annotated[str | None, Query(max_length=100)]


def _status_filter(status: str | None) -> JobStatus | None:
    if status and status not in JOB_STATUSES:
        raise UiError(422, "Invalid request", f"status must be one of: {', '.join(JOB_STATUSES)}")
    return JobStatus(status) if status else None


def _filters(status: str | None, tag: str | None, name: str | None, sweep_id: str | None) -> job_views.JobFilters:
    """The list's filters from the query (blank fields of the filter form mean "all")."""
    sweep_id = (sweep_id or "").strip() or None
    if sweep_id is not None and not SWEEP_ID.fullmatch(sweep_id):
        message = f"sweep must be a sweep id (swp_ and 24 hex digits, as the sweep list shows), not {sweep_id!r}"
        raise UiError(422, "Invalid request", message)
    return job_views.JobFilters(
        status=_status_filter(status),
        tag=(tag or "").strip() or None,
        name=(name or "").strip() or None,
        sweep_id=sweep_id,
    )


@router.get("", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    session: SessionDep,
    tenant: PageTenant,
    status: str | None = None,
    after: Annotated[str | None, Query(max_length=40)] = None,
    tag: FilterText = None,
    name: FilterText = None,
    sweep_id: FilterText = None,
) -> Response:
    filters = _filters(status, tag, name, sweep_id)
    with shown_as_page():
        rows, has_more = job_views.list_jobs(session, tenant.id, filters, after)
    older = f"/ui?{filters.query(after=rows[-1].id)}" if has_more else None
    context = {"rows": rows, "filters": filters, "statuses": JOB_STATUSES, "older": older}
    return page(request, "jobs.html", {"tenant_name": tenant.name, **context})


@router.get("/jobs.json")
def jobs_json(
    session: SessionDep,
    tenant: FetchTenant,
    ids: Annotated[str, Query(max_length=4000)] = "",
    status: str | None = None,
    tag: FilterText = None,
    name: FilterText = None,
    sweep_id: FilterText = None,
) -> JSONResponse:
    """Live fields of the named jobs (or of the newest page under the list's filters) for our JS to update rows."""
    if ids:
        jobs = job_reads.jobs_by_ids(session, tenant.id, _ids([ids])[: job_views.LIST_PAGE_SIZE])
        rows = job_views.job_rows(session, jobs)
    else:
        rows, _ = job_views.list_jobs(session, tenant.id, _filters(status, tag, name, sweep_id))
    return JSONResponse({"data": [row.live() for row in rows]}, headers={"Cache-Control": "no-store"})


def _student(session: Session, job: Job) -> Any:
    """The stored student of a succeeded job, for the download link; None for any other job."""
    try:
        return job_reads.finished_artifact(session, job, "student")
    except DomainError:
        return None


def _student_formats(session: Session, job: Job) -> list[job_views.StudentFormat]:
    """Each stored format of a succeeded job's student, with its file name and loading snippet."""
    if job.status != JobStatus.SUCCEEDED:
        return []
    stored = []
    for fmt in job_reads.STUDENT_FORMATS:
        artifact = job_reads.stored_artifact(session, job.id, job_reads.student_artifact_kind(fmt))
        if artifact is not None:
            stored.append(job_views.student_format(job, fmt, artifact, job_reads.student_filename(job, fmt)))
    return stored


def _job_context(session: Session, job: Job, notice: str | None = None) -> dict[str, Any]:
    metrics = job_reads.job_metrics(session, job.id)
    return {
        "job": job,
        "row": job_views.job_rows(session, [job])[0],
        "init": job_views.init_label(job.spec),
        "sd": job_views.is_sd(job.spec),
        "hyperparameters": job_views.method_hyperparameters(job.spec),
        "accuracy": job_views.accuracy(job, metrics),
        "protocol": job_views.protocol_text(job.spec),
        "latest": metrics[-1] if metrics else None,
        "events": job_reads.job_events(session, job.id),
        "checkpoints": job_reads.job_checkpoints(session, job.id),
        "student": _student(session, job),
        "student_formats": _student_formats(session, job),
        "evaluation": job_views.final_evaluation(job),
        "cancellable": job.status in CANCELLABLE,
        "resumable": job.status in RESUMABLE,
        "terminal": job.status in TERMINAL,
        "notice": NOTICES.get(notice or ""),
    }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request, job_id: JobId, session: SessionDep, tenant: PageTenant, notice: str | None = None
) -> Response:
    job = _job(session, tenant, job_id)
    return page(request, "job.html", {"tenant_name": tenant.name, **_job_context(session, job, notice)})


@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
def job_live(request: Request, job_id: JobId, session: SessionDep, tenant: FetchTenant) -> Response:
    """The job page's changing part alone, for our JS to swap in while the job is not finished."""
    job = _job(session, tenant, job_id)
    return page(request, "job_live.html", _job_context(session, job))


@router.get("/jobs/{job_id}/metrics.json")
def job_metrics_json(job_id: JobId, session: SessionDep, tenant: FetchTenant) -> JSONResponse:
    """The job's metrics rows for the page's interactive curves (``static/charts.js``)."""
    job = _job(session, tenant, job_id)
    data = [job_views.curves_data(job, job_reads.job_metrics(session, job.id))]
    return JSONResponse({"data": data}, headers={"Cache-Control": "no-store"})


@router.get("/jobs/{job_id}/curves.{fmt}")
def job_curves(
    job_id: JobId, fmt: PlotFormat, session: SessionDep, settings: SettingsDep, tenant: FetchTenant
) -> Response:
    """The stored plot of a finished job, or the curves drawn now (cached per ``?epoch=``, see IMAGE_HEADERS):
    the page's curves without JS, and its image downloads."""
    job = _job(session, tenant, job_id)
    return curves_response(
        session,
        settings,
        job,
        fmt,
        live_cache_control=IMAGE_HEADERS["Cache-Control"],
        headers={"Content-Security-Policy": IMAGE_CSP},
    )


@router.get("/jobs/{job_id}/student")
def download_student(
    job_id: JobId,
    session: SessionDep,
    settings: SettingsDep,
    tenant: PageTenant,
    format: Literal["safetensors", "onnx", "torchscript"] = "safetensors",  # noqa: A002 - the query parameter
) -> Response:
    job = _job(session, tenant, job_id)
    filename, media_type = job_reads.student_filename(job, format), "application/octet-stream"
    with shown_as_page():
        artifact = job_reads.finished_student(session, job, format)
        download = job_reads.artifact_download(settings, artifact, filename=filename, media_type=media_type)
    session.commit()
    return artifact_response(download, media_type=media_type, filename=filename)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: JobId, session: SessionDep, tenant: PageTenant, _fields: CheckedForm) -> Response:
    with shown_as_page():
        try:
            notice = str(cancel_owned_job(session, tenant.id, job_id).status)
        except Conflict:
            notice = "finished"
        else:
            logger.info("dashboard: tenant %s cancelled job %s (now %s)", tenant.name, job_id, notice)
    return RedirectResponse(f"/ui/jobs/{job_id}?notice={notice}", 303)


@router.post("/jobs/{job_id}/resume")
def resume_job(
    job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: PageTenant, _fields: CheckedForm
) -> Response:
    with shown_as_page():
        try:
            resume_owned_job(session, settings, tenant, job_id)
        except TooManyJobs:
            notice = "too_many_jobs"
        except Conflict:
            notice = "not_resumable"
        else:
            notice = "resumed"
            logger.info("dashboard: tenant %s resumed job %s", tenant.name, job_id)
    return RedirectResponse(f"/ui/jobs/{job_id}?notice={notice}", 303)


# ---------------------------------------------------------------- comparison


def _compared_jobs(session: Session, tenant: Tenant, ids: list[str] | None) -> list[Job]:
    wanted = _ids(ids or [])
    if len(wanted) < 2:
        raise UiError(422, "Pick jobs to compare", "Tick at least two jobs in the job list, then press Compare.")
    if len(wanted) > job_views.COMPARE_MAX_JOBS:
        raise UiError(422, "Too many jobs", f"Compare at most {job_views.COMPARE_MAX_JOBS} jobs at a time.")
    jobs = job_reads.jobs_by_ids(session, tenant.id, wanted)
    missing = [i for i in wanted if i not in {job.id for job in jobs}]
    if missing:
        raise UiError(404, "Not found", f"no job with id {missing[0]!r}")
    return jobs


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request, session: SessionDep, tenant: PageTenant, ids: Annotated[list[str] | None, Query()] = None
) -> Response:
    jobs = _compared_jobs(session, tenant, ids)
    metrics = {job.id: job_reads.job_metrics(session, job.id) for job in jobs}
    return page(
        request,
        "compare.html",
        {
            "tenant_name": tenant.name,
            "jobs": jobs,
            "settings_rows": job_views.settings_table(jobs),
            "accuracies": [job_views.accuracy(job, metrics[job.id]) for job in jobs],
            "ids_query": urlencode({"ids": ",".join(job.id for job in jobs)}),
        },
    )


@router.get("/compare/metrics.json")
def compare_metrics_json(
    session: SessionDep, tenant: FetchTenant, ids: Annotated[list[str] | None, Query()] = None
) -> JSONResponse:
    """Each compared job's metrics rows, labelled by its name (or id), for the interactive curves."""
    jobs = _compared_jobs(session, tenant, ids)
    data = [job_views.curves_data(job, job_reads.job_metrics(session, job.id)) for job in jobs]
    return JSONResponse({"data": data}, headers={"Cache-Control": "no-store"})


@router.get("/compare/curves.{fmt}")
def compare_curves(
    fmt: PlotFormat, session: SessionDep, tenant: FetchTenant, ids: Annotated[list[str] | None, Query()] = None
) -> Response:
    """The compared jobs' curves overlaid, drawn on the server: the page without JS, and its image downloads."""
    # imported here: matplotlib loads with the first curve drawn, not with the API
    from sdd_client.plots import job_label, render_curves

    jobs = _compared_jobs(session, tenant, ids)
    series = {job_label(job.id, job.spec, job.name): job_reads.job_metrics(session, job.id) for job in jobs}
    session.commit()
    image = render_curves(series, fmt=fmt, title=f"{len(jobs)} jobs compared")
    return Response(image, media_type=MEDIA_TYPES[fmt], headers=OVERLAY_HEADERS)
