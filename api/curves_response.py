"""A job's training curves as an HTTP response, shared by ``GET /v1/jobs/{id}/plots/curves.*`` and
the dashboard: the plot stored when the job finished, or the curves drawn now from its metrics."""

from __future__ import annotations

import logging

from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.artifact_response import artifact_response
from domain.errors import NotFound
from domain.jobs import job_reads
from domain.status import TERMINAL
from sdd_client.plot_formats import MEDIA_TYPES, PlotFormat
from service.artifacts import PLOT_KINDS
from service.db.models import Job
from service.settings import Settings

log = logging.getLogger(__name__)

STORED_CACHE_CONTROL = "private, max-age=300"  # a finished job's curves no longer change
LIVE_CACHE_CONTROL = "no-store"  # a running job's curves grow every epoch


def curves_response(
    session: Session,
    settings: Settings,
    job: Job,
    fmt: PlotFormat,
    *,
    live_cache_control: str = LIVE_CACHE_CONTROL,
    headers: dict[str, str] | None = None,
) -> Response:
    """The stored plot of a finished job if there is one, else the curves drawn from its metrics now.

    ``X-Plot-Source`` says which (``stored`` | ``live``); ``headers`` are added to either answer.
    """
    filename = f"{job.id}-curves.{fmt}"
    extra = headers or {}
    if job.status in TERMINAL:
        artifact = job_reads.stored_artifact(session, job.id, PLOT_KINDS[fmt])
        if artifact is not None:
            try:  # streamed, never a redirect: the dashboard embeds it and its CSP allows its own origin only
                download = job_reads.artifact_download(settings, artifact, media_type=MEDIA_TYPES[fmt], redirect=False)
            except NotFound:
                log.warning("job %s: stored %s is missing from storage; drawing it live", job.id, artifact.kind)
            else:
                session.commit()
                return artifact_response(
                    download,
                    media_type=MEDIA_TYPES[fmt],
                    filename=filename,
                    disposition="inline",
                    headers={"Cache-Control": STORED_CACHE_CONTROL, "X-Plot-Source": "stored", **extra},
                )
    # imported here: matplotlib loads with the first curve drawn, not with the API
    from sdd_client.plots import job_label, job_title, render_curves

    rows = job_reads.job_metrics(session, job.id)
    label, title = job_label(job.id, job.spec, job.name), job_title(job.id, job.spec, job.name)
    session.commit()  # end the read transaction: no database connection held while drawing
    return Response(
        render_curves({label: rows}, fmt, title=title),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Cache-Control": live_cache_control,
            "X-Plot-Source": "live",
            "Content-Disposition": f'inline; filename="{filename}"',
            **extra,
        },
    )
