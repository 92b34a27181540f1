"""The sweep pages: the list, one sweep (report, recommendation, accuracy against cost, overlaid curves,
members, cancel) and its live part, which the page swaps in while members train.

Reads go through ``domain.sweeps.sweep_reads`` (tenant-scoped, as ``/v1/sweeps``: another tenant's sweep
is "not found"); the cancel button is a CSRF-checked POST form calling ``domain.jobs.cancellation``,
as on the job page; the curves are an SVG drawn by ``sdd_client.plots`` under the image CSP, and so
is the cost plot (``sdd_client.cost_plots``). ``?within=1.0`` (a GET form on the page) asks which
student is the fastest at most that many points below the teacher, as ``/v1/sweeps/{id}/report`` does.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.ui.rendering import IMAGE_CSP, page, shown_as_page
from api.ui.session import CheckedForm, FetchTenant, PageTenant
from domain.errors import Conflict
from domain.jobs.cancellation import cancel_sweep as cancel_owned_sweep
from domain.ownership import PageParams
from domain.status import TERMINAL, JobStatus
from domain.sweeps import sweep_reads
from domain.sweeps.sweep_reads import SweepView
from domain.sweeps.sweep_report import ConfigurationReport, SweepReport, member_coordinates
from sdd_client import models
from sdd_client.sweep_report_markdown import COST_HEADERS, cost_cells, cost_legend, search_cost_text, within_heading
from service.db.models import Tenant

logger = logging.getLogger("api.ui")

router = APIRouter(prefix="/ui", include_in_schema=False)

SweepId = Annotated[str, Path(max_length=40)]
Within = Annotated[float | None, Query(ge=0, le=100)]
LIST_PAGE_SIZE = 50
SHOWN_CLASS_GAINS = 10
CONFUSION_MAX_CLASSES = 20  # a larger confusion matrix is left to the best member's page
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
    """``method kd, sd-kd × beta 1, 2 × seed 0, 1, 2``; a search: ``search: 8 trials over beta, scales``."""
    search = (view.sweep.request or {}).get("search")
    if search is not None:
        space = [field for field, value in (search.get("space") or {}).items() if value is not None]
        return f"search: {search.get('trials')} trials over {', '.join(space)}"
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


def best_member(members: list[dict[str, Any]]) -> str | None:
    """The id of the succeeded member with the highest final val top-1 (the first of equals), if any."""
    finished = [m for m in members if m["job"].status == JobStatus.SUCCEEDED and isinstance(m["val_top1"], float)]
    return max(finished, key=lambda m: m["val_top1"])["job"].id if finished else None


def wide_interval(configuration: ConfigurationReport) -> bool:
    """Whether the gain's 95% interval is wider than the gain itself: more seeds are needed to tell."""
    gain = configuration.gain
    return gain is not None and gain.half_width is not None and gain.half_width > abs(gain.mean)


def _sweep_context(
    session: Session, view: SweepView, notice: str | None = None, within: float | None = None
) -> dict[str, Any]:
    """What the sweep page and its live part show."""
    report = sweep_reads.sweep_report(session, view, within=within)
    sent = _as_sent(report)
    cost = sent.cost
    query = f"&{urlencode({'within': f'{within:g}'})}" if within is not None else ""
    base = (view.sweep.request or {}).get("base") or {}
    members = [
        {"job": job, "coordinates": member_coordinates(job.spec), "val_top1": _top1(job.result)} for job in view.members
    ]
    confusion = report.confusion
    return {
        "sweep": view.sweep,
        "status": view.status,
        "progress": view.progress,
        "grid": grid_text(view),
        "base": base,
        "teacher": (base.get("teacher") or {}),
        "report": report,
        "search_cost": search_cost_text(sent.search) if sent.search is not None else None,
        "class_gains": report.per_class.gains[:SHOWN_CLASS_GAINS],
        "members": members,
        "unfinished": sum(job.status not in TERMINAL for job in view.members),
        "best_member": best_member(members),
        "wide_intervals": [c for c in report.configurations if wide_interval(c)],
        "confusion": confusion,
        "confusion_shown": confusion is not None and len(confusion.classes) <= CONFUSION_MAX_CLASSES,
        "groups": len(view.groups),
        "cancellable": any(job.status not in TERMINAL for job in view.members),
        "curves_url": f"/ui/sweeps/{view.sweep.id}/curves.svg?epoch={view.progress.epoch}",
        "notice": NOTICES.get(notice or ""),
        "within": within,
        "within_heading": within_heading(within) if within is not None else None,
        "live_url": f"/ui/sweeps/{view.sweep.id}/live" + (f"?{query[1:]}" if query else ""),
        # one image per (members finished, within): a cached image is never stale
        "cost_url": f"/ui/sweeps/{view.sweep.id}/cost.svg?done={report.members.get('succeeded', 0)}{query}",
        "cost_headers": COST_HEADERS,
        "cost_rows": [(point.configuration, cost_cells(point)) for point in cost.points],
        "cost_legend": cost_legend(cost),
    }


def _top1(result: dict[str, Any] | None) -> float | None:
    top1 = (result or {}).get("val_top1")
    return float(top1) if isinstance(top1, (int, float)) and not isinstance(top1, bool) else None


def _as_sent(report: SweepReport) -> models.SweepReport:
    """The report as the API sends it and a client reads it (what the shared renderers take)."""
    return models.SweepReport.model_validate(asdict(report))


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
def sweep_page(
    request: Request,
    sweep_id: SweepId,
    session: SessionDep,
    tenant: PageTenant,
    notice: str | None = None,
    within: Within = None,
) -> Response:
    view = _sweep(session, tenant, sweep_id)
    context = _sweep_context(session, view, notice, within)
    return page(request, "sweep.html", {"tenant_name": tenant.name, **context})


@router.get("/sweeps/{sweep_id}/live", response_class=HTMLResponse)
def sweep_live(
    request: Request, sweep_id: SweepId, session: SessionDep, tenant: FetchTenant, within: Within = None
) -> Response:
    """The sweep page's changing part alone, for our JS to swap in until every member has finished."""
    view = _sweep(session, tenant, sweep_id)
    return page(request, "sweep_live.html", _sweep_context(session, view, within=within))


@router.get("/sweeps/{sweep_id}/curves.svg")
def sweep_curves(sweep_id: SweepId, session: SessionDep, tenant: FetchTenant) -> Response:
    """Every member's val top-1 curve, one colour per configuration (cached per ``?epoch=``)."""
    # imported here: matplotlib loads with the first curve drawn, not with the API
    from sdd_client.plots import render_overlay

    view = _sweep(session, tenant, sweep_id)
    curves = sweep_reads.sweep_curves(session, view)
    session.commit()  # no database connection held while drawing
    title = f"{view.sweep.name or view.sweep.id}: val top-1 of {len(view.members)} members"
    return Response(render_overlay(curves, "svg", title=title), media_type="image/svg+xml", headers=IMAGE_HEADERS)


@router.get("/sweeps/{sweep_id}/cost.svg")
def sweep_cost(sweep_id: SweepId, session: SessionDep, tenant: FetchTenant, within: Within = None) -> Response:
    """Top-1 against latency and parameters, frontiers marked (cached per ``?done=&within=``)."""
    from sdd_client.cost_plots import render_cost  # imported here: matplotlib loads with the first plot drawn

    view = _sweep(session, tenant, sweep_id)
    report = sweep_reads.sweep_report(session, view, within=within)
    session.commit()  # no database connection held while drawing
    title = f"{view.sweep.name or view.sweep.id}: accuracy against cost"
    svg = render_cost(_as_sent(report).cost, "svg", title=title)
    return Response(svg, media_type="image/svg+xml", headers=IMAGE_HEADERS)


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
