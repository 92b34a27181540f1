"""The sweep pages: the list, one sweep (report, recommendation, overlaid curves, members, cancel) and
its live part, which the page swaps in while members train.

Reads go through ``domain.sweeps.sweep_reads`` (tenant-scoped, as ``/v1/sweeps``: another tenant's sweep
is "not found"); the cancel button is a CSRF-checked POST form calling ``domain.jobs.cancellation``,
as on the job page; the curves are an SVG drawn by ``sdd_client.plots`` under the image CSP.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.ui.rendering import IMAGE_CSP, page, shown_as_page
from api.ui.session import CheckedForm, FetchTenant, PageTenant
from domain.errors import Conflict
from domain.jobs.cancellation import cancel_sweep as cancel_owned_sweep
from domain.ownership import PageParams
from domain.status import TERMINAL
from domain.sweeps import sweep_reads
from domain.sweeps.sweep_reads import SweepView
from domain.sweeps.sweep_report import member_coordinates
from sdd_client.plots import render_overlay
from service.db.models import Tenant

logger = logging.getLogger("api.ui")

router = APIRouter(prefix="/ui", include_in_schema=False)

SweepId = Annotated[str, Path(max_length=40)]
LIST_PAGE_SIZE = 50
SHOWN_CLASS_GAINS = 10
# The page asks for ?epoch=<epochs done>, so a cached image is never stale.
IMAGE_HEADERS = {"Content-Security-Policy": IMAGE_CSP, "Cache-Control": "private, max-age=300"}
NOTICES = {
    "cancelled": "Cancel requested: queued members are cancelled, running ones stop at their next batch.",
    "finished": "Every member had already finished; there was nothing to cancel.",
}


def _sweep(session: Session, tenant: Tenant, sweep_id: str) -> SweepView:
    with shown_as_page():
        return sweep_reads.get_sweep(session, tenant.id, sweep_id)


def grid_text(view: SweepView) -> str:
    """``method kd, sd-kd × beta 1, 2 × seed 0, 1, 2``."""
    grid: dict[str, list[Any]] = (view.sweep.request or {}).get("grid") or {}
    return " × ".join(f"{field} {', '.join(str(v) for v in values)}" for field, values in grid.items())


def sweep_row(view: SweepView) -> dict[str, Any]:
    """One sweep as the list shows it."""
    return {
        "id": view.sweep.id,
        "name": view.sweep.name,
        "status": view.status,
        "members": len(view.members),
        "grid": grid_text(view),
        "progress": view.progress,
        "created_at": view.sweep.created_at,
    }


@router.get("/sweeps", response_class=HTMLResponse)
def sweeps_page(
    request: Request,
    session: SessionDep,
    tenant: PageTenant,
    after: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    with shown_as_page():
        views, has_more = sweep_reads.list_sweeps(session, tenant.id, PageParams(limit=LIST_PAGE_SIZE, after=after))
    older = f"/ui/sweeps?after={views[-1].sweep.id}" if has_more else None
    context = {"tenant_name": tenant.name, "rows": [sweep_row(view) for view in views], "older": older}
    return page(request, "sweeps.html", context)


def _sweep_context(session: Session, view: SweepView, notice: str | None = None) -> dict[str, Any]:
    """What the sweep page and its live part show."""
    report = sweep_reads.sweep_report(session, view)
    base = (view.sweep.request or {}).get("base") or {}
    members = [
        {"job": job, "coordinates": member_coordinates(job.spec), "val_top1": (job.result or {}).get("val_top1")}
        for job in view.members
    ]
    return {
        "sweep": view.sweep,
        "status": view.status,
        "progress": view.progress,
        "grid": grid_text(view),
        "base": base,
        "teacher": (base.get("teacher") or {}),
        "report": report,
        "class_gains": report.per_class.gains[:SHOWN_CLASS_GAINS],
        "members": members,
        "groups": len(view.groups),
        "cancellable": any(job.status not in TERMINAL for job in view.members),
        "curves_url": f"/ui/sweeps/{view.sweep.id}/curves.svg?epoch={view.progress.epoch}",
        "notice": NOTICES.get(notice or ""),
    }


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
def sweep_page(
    request: Request, sweep_id: SweepId, session: SessionDep, tenant: PageTenant, notice: str | None = None
) -> Response:
    view = _sweep(session, tenant, sweep_id)
    return page(request, "sweep.html", {"tenant_name": tenant.name, **_sweep_context(session, view, notice)})


@router.get("/sweeps/{sweep_id}/live", response_class=HTMLResponse)
def sweep_live(request: Request, sweep_id: SweepId, session: SessionDep, tenant: FetchTenant) -> Response:
    """The sweep page's changing part alone, for our JS to swap in until every member has finished."""
    view = _sweep(session, tenant, sweep_id)
    return page(request, "sweep_live.html", _sweep_context(session, view))


@router.get("/sweeps/{sweep_id}/curves.svg")
def sweep_curves(sweep_id: SweepId, session: SessionDep, tenant: FetchTenant) -> Response:
    """Every member's val top-1 curve, one colour per configuration (cached per ``?epoch=``)."""
    view = _sweep(session, tenant, sweep_id)
    curves = sweep_reads.sweep_curves(session, view)
    session.commit()  # no database connection held while drawing
    title = f"{view.sweep.name or view.sweep.id}: val top-1 of {len(view.members)} members"
    return Response(render_overlay(curves, "svg", title=title), media_type="image/svg+xml", headers=IMAGE_HEADERS)


@router.post("/sweeps/{sweep_id}/cancel")
def cancel_sweep(sweep_id: SweepId, session: SessionDep, tenant: PageTenant, _fields: CheckedForm) -> Response:
    with shown_as_page():
        try:
            cancel_owned_sweep(session, tenant.id, sweep_id)
        except Conflict:
            notice = "finished"
        else:
            notice = "cancelled"
            logger.info("dashboard: tenant %s cancelled sweep %s", tenant.name, sweep_id)
    return RedirectResponse(f"/ui/sweeps/{sweep_id}?notice={notice}", 303)
