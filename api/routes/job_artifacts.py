"""What a job leaves behind: per-epoch metrics (JSON or CSV), events, checkpoints, the student and its card,
its TensorBoard event file."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import FileResponse, Response

from api.artifact_response import artifact_response
from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.schemas.errors import error_responses
from api.schemas.jobs import CheckpointPublic, CheckpointsPublic, EventPublic, EventsPublic, MetricsPublic
from domain.errors import NotFound
from domain.jobs import job_reads
from domain.jobs.metrics_csv import MEDIA_TYPE as CSV_MEDIA_TYPE
from domain.jobs.metrics_csv import csv_filename, metrics_csv
from service.artifacts import TENSORBOARD_KIND

OCTET_STREAM = "application/octet-stream"

router = APIRouter(prefix="/jobs/{job_id}", tags=["job results"], responses=error_responses(404))

JobId = Annotated[str, Path(description="The job's id.", max_length=40)]
PRESIGNED_REDIRECT = {
    "description": "With SDD_S3_PRESIGNED_DOWNLOADS=true: the file is at the short-lived presigned URL in "
    "Location (SHA-256 in X-Content-SHA256).",
    "headers": {"Location": {"description": "The presigned URL.", "schema": {"type": "string"}}},
}


@router.get(
    "/metrics",
    response_model=MetricsPublic,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "The rows as JSON, or as CSV with ?format=csv or Accept: text/csv.",
        }
    },
    summary="Per-epoch metrics",
)
def job_metrics(
    job_id: JobId,
    session: SessionDep,
    tenant: CurrentTenant,
    format: Annotated[  # noqa: A002 - the query parameter users type
        Literal["json", "csv"] | None,
        Query(description="csv: a CSV file (header, one line per epoch); left out: as the Accept header asks."),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response | MetricsPublic:
    """One row per finished epoch, in epoch order (accuracies in percent).

    As CSV (`?format=csv` or `Accept: text/csv`): the fields in a stable order (epoch, epochs, lr,
    losses, accuracies, ..., then any other by name), numbers as plain decimals, an empty cell for a
    missing value, and text a spreadsheet would take for a formula prefixed with `'`.
    """
    job = job_reads.get_job(session, tenant.id, job_id)
    rows = job_reads.job_metrics(session, job.id)
    if (format or preferred_format(accept)) == "csv":
        return Response(
            metrics_csv(rows),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{csv_filename(job.id)}"'},
        )
    return MetricsPublic(data=rows)


def preferred_format(accept: str | None) -> str:
    """``csv`` when the Accept header ranks text/csv above JSON (or names only it), else ``json``."""
    ranked: list[tuple[float, str]] = []
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranked.append((quality, media.lower()))
    best = {"text/csv": 0.0, "application/json": 0.0}
    for quality, media in ranked:
        if media in best:
            best[media] = max(best[media], quality)
    return "csv" if best["text/csv"] > best["application/json"] else "json"


@router.get("/events", response_model=EventsPublic, summary="What happened to the job, in order")
def job_events(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> EventsPublic:
    job = job_reads.get_job(session, tenant.id, job_id)
    rows = job_reads.job_events(session, job.id)
    return EventsPublic(
        data=[EventPublic(type=e.type, message=e.message, data=e.data, created_at=e.created_at) for e in rows]
    )


@router.get("/checkpoints", response_model=CheckpointsPublic, summary="Checkpoints kept for the job")
def job_checkpoints(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> CheckpointsPublic:
    job = job_reads.get_job(session, tenant.id, job_id)
    rows = job_reads.job_checkpoints(session, job.id)
    return CheckpointsPublic(
        data=[
            CheckpointPublic(epoch=a.epoch, size_bytes=a.size_bytes, sha256=a.sha256, created_at=a.created_at)
            for a in rows
        ]
    )


@router.get(
    "/student",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The distilled student: safetensors weights, an ONNX model (dynamic batch) "
            "or a TorchScript module; SHA-256 in X-Content-SHA256.",
        },
        307: PRESIGNED_REDIRECT,
        **error_responses(404, 409),
    },
    summary="Download the distilled student",
)
def job_student(
    job_id: JobId,
    session: SessionDep,
    settings: SettingsDep,
    tenant: CurrentTenant,
    format: Annotated[  # noqa: A002 - the query parameter users type
        Literal["safetensors", "onnx", "torchscript"],
        Query(description="safetensors (weights), onnx or torchscript; each export was checked against PyTorch."),
    ] = "safetensors",
) -> Response:
    job = job_reads.get_job(session, tenant.id, job_id)
    artifact = job_reads.finished_student(session, job, format)
    filename, media_type = job_reads.student_filename(job, format), "application/octet-stream"
    download = job_reads.artifact_download(settings, artifact, filename=filename, media_type=media_type)
    session.commit()  # end the read transaction: no database connection held while the bytes go out
    return artifact_response(download, media_type=media_type, filename=filename)


@router.get(
    "/student/card",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/json": {}}, "description": "The model card."},
        307: PRESIGNED_REDIRECT,
        **error_responses(409),
    },
    summary="The distilled student's model card",
)
def job_student_card(job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant) -> Response:
    job = job_reads.get_job(session, tenant.id, job_id)
    artifact = job_reads.finished_artifact(session, job, "card")
    download = job_reads.artifact_download(settings, artifact, media_type="application/json")
    session.commit()
    return artifact_response(download, media_type="application/json", disposition="inline")


@router.get(
    "/tensorboard",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The job's TensorBoard event file: its metrics per epoch, for every finished epoch of "
            "every attempt. Save it in a folder and run `tensorboard --logdir` on it.",
        },
        **error_responses(404),
    },
    summary="The job's metrics as a TensorBoard event file",
)
def job_tensorboard(job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant) -> Response:
    """Written by the worker when an attempt ends, whatever its outcome (404 `artifact_missing` before that)."""
    job = job_reads.get_job(session, tenant.id, job_id)
    artifact = job_reads.stored_artifact(session, job.id, TENSORBOARD_KIND)
    if artifact is None:
        raise NotFound(
            f"job {job.id} has no TensorBoard events yet: they are stored when an attempt of it ends",
            code="artifact_missing",
        )
    filename = tensorboard_filename(job.id)
    download = job_reads.artifact_download(
        settings, artifact, filename=filename, media_type=OCTET_STREAM, redirect=False
    )  # a small file: always streamed
    session.commit()
    return artifact_response(download, media_type=OCTET_STREAM, filename=filename)


def tensorboard_filename(job_id: str) -> str:
    """The download name: TensorBoard reads files whose name holds ``tfevents``."""
    return f"events.out.tfevents.{job_id}"
