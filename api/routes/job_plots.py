"""A job's training curves as an image: the plot stored when it finished, or drawn now from its metrics."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.ownership import get_owned
from api.schemas.errors import error_responses
from service.artifacts import PLOT_KINDS, get_artifact_store
from service.db.models import TERMINAL_STATUSES, Artifact, Job, JobMetric
from service.plots import MEDIA_TYPES, PlotFormat, job_label, job_title, render_curves
from service.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/jobs/{job_id}/plots", tags=["job results"], responses=error_responses(404))

JobId = Annotated[str, Path(description="The job's id.", max_length=40)]

STORED_CACHE_CONTROL = "private, max-age=300"  # a finished job's curves no longer change
LIVE_CACHE_CONTROL = "no-store"  # a running job's curves grow every epoch

DESCRIPTION = """\
One figure with panels over the epochs: validation top-1 and top-5 accuracy (%), the training loss
and its parts (total, cross-entropy, distillation), the share of complementary regions (SD methods
only, %) and the learning rate.

A finished job (succeeded, failed or cancelled) answers with the plot stored when it ended
(`X-Plot-Source: stored`). A queued or running job, or one finished before plots were stored, gets
its curves drawn now from its metrics (`X-Plot-Source: live`, `Cache-Control: no-store`), so polling
this URL shows live progress; before the first epoch ends the figure says "no finished epoch yet".
"""


def _responses(fmt: PlotFormat) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "content": {MEDIA_TYPES[fmt]: {"schema": {"type": "string", "format": "binary"}}},
            "description": f"The training curves as {fmt.upper()}.",
            "headers": {
                "X-Plot-Source": {
                    "description": "`stored` (the finished job's plot) or `live` (drawn for this request).",
                    "schema": {"type": "string", "enum": ["stored", "live"]},
                },
                "Cache-Control": {
                    "description": f"`{STORED_CACHE_CONTROL}` when stored, `{LIVE_CACHE_CONTROL}` when live.",
                    "schema": {"type": "string"},
                },
            },
        }
    }


@router.get(
    "/curves.png",
    response_class=Response,
    responses=_responses("png"),
    summary="Training curves (PNG)",
    description=DESCRIPTION,
)
def job_curves_png(job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant) -> Response:
    return _curves(session, settings, get_owned(session, Job, tenant.id, job_id, kind="job"), "png")


@router.get(
    "/curves.svg",
    response_class=Response,
    responses=_responses("svg"),
    summary="Training curves (SVG)",
    description=DESCRIPTION + "\nThe SVG is self-contained (no external references); its text stays text.\n",
)
def job_curves_svg(job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant) -> Response:
    return _curves(session, settings, get_owned(session, Job, tenant.id, job_id, kind="job"), "svg")


def _curves(session: Session, settings: Settings, job: Job, fmt: PlotFormat) -> Response:
    """The stored plot of a finished job if there is one, else the curves drawn from its metrics now."""
    filename = f"{job.id}-curves.{fmt}"
    if job.status in TERMINAL_STATUSES:
        artifact = session.scalar(
            select(Artifact).where(Artifact.job_id == job.id, Artifact.kind == PLOT_KINDS[fmt])
        )
        if artifact is not None:
            path = get_artifact_store(settings).path(artifact.key)
            if path.is_file():
                return FileResponse(
                    path,
                    media_type=MEDIA_TYPES[fmt],
                    filename=filename,
                    content_disposition_type="inline",
                    headers={"Cache-Control": STORED_CACHE_CONTROL, "X-Plot-Source": "stored"},
                )
            log.warning("job %s: stored %s is missing from storage; drawing it live", job.id, artifact.kind)
    rows = list(session.scalars(select(JobMetric.data).where(JobMetric.job_id == job.id).order_by(JobMetric.epoch)))
    label, title = job_label(job.id, job.spec), job_title(job.id, job.spec)
    session.commit()  # end the read transaction: no database connection held while drawing
    return Response(
        render_curves({label: rows}, fmt, title=title),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Cache-Control": LIVE_CACHE_CONTROL,
            "X-Plot-Source": "live",
            "Content-Disposition": f'inline; filename="{filename}"',
        },
    )
