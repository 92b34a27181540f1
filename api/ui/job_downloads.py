"""The job page's downloads besides the student: its metrics as CSV and its TensorBoard event file.

The same files as ``GET /v1/jobs/{id}/metrics?format=csv`` and ``GET /v1/jobs/{id}/tensorboard``,
under ``/ui`` so that the dashboard's cookie session reaches them (a browser link carries no bearer
token); a missing job or file is an error page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.artifact_response import artifact_response
from api.deps import SessionDep, SettingsDep
from api.routes.job_artifacts import OCTET_STREAM, tensorboard_filename
from api.ui.rendering import shown_as_page
from api.ui.session import PageTenant
from domain.errors import NotFound
from domain.jobs import job_reads
from domain.jobs.metrics_csv import MEDIA_TYPE as CSV_MEDIA_TYPE
from domain.jobs.metrics_csv import csv_filename, metrics_csv
from service.artifacts import TENSORBOARD_KIND

router = APIRouter(prefix="/ui", include_in_schema=False)

JobId = Annotated[str, Path(max_length=40)]


@router.get("/jobs/{job_id}/metrics.csv")
def download_metrics_csv(job_id: JobId, session: SessionDep, tenant: PageTenant) -> Response:
    """One line per finished epoch (``domain.jobs.metrics_csv``)."""
    with shown_as_page():
        job = job_reads.get_job(session, tenant.id, job_id)
    rows = job_reads.job_metrics(session, job.id)
    session.commit()
    return Response(
        metrics_csv(rows),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{csv_filename(job.id)}"'},
    )


@router.get("/jobs/{job_id}/tensorboard")
def download_tensorboard(job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: PageTenant) -> Response:
    filename = tensorboard_filename(job_id)
    with shown_as_page():
        job = job_reads.get_job(session, tenant.id, job_id)
        artifact = job_reads.stored_artifact(session, job.id, TENSORBOARD_KIND)
        if artifact is None:
            raise NotFound(f"job {job.id} has no TensorBoard events yet: they are stored when an attempt of it ends")
        download = job_reads.artifact_download(settings, artifact, media_type=OCTET_STREAM, redirect=False)
    session.commit()
    return artifact_response(download, media_type=OCTET_STREAM, filename=filename)
