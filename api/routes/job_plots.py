"""A job's training curves as an image: the plot stored when it finished, or drawn now from its metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.curves_response import LIVE_CACHE_CONTROL, STORED_CACHE_CONTROL, curves_response
from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.schemas.errors import error_responses
from domain.jobs.job_reads import get_job
from sdd_client.plot_formats import MEDIA_TYPES, PlotFormat

router = APIRouter(prefix="/jobs/{job_id}/plots", tags=["job results"], responses=error_responses(404))

JobId = Annotated[str, Path(description="The job's id.", max_length=40)]

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
    return curves_response(session, settings, get_job(session, tenant.id, job_id), "png")


@router.get(
    "/curves.svg",
    response_class=Response,
    responses=_responses("svg"),
    summary="Training curves (SVG)",
    description=DESCRIPTION + "\nThe SVG is self-contained (no external references); its text stays text.\n",
)
def job_curves_svg(job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant) -> Response:
    return curves_response(session, settings, get_job(session, tenant.id, job_id), "svg")
