"""What a job leaves behind: per-epoch metrics, events, checkpoints, the student and its card."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, Response

from api.artifact_response import artifact_response
from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.schemas.errors import error_responses
from api.schemas.jobs import CheckpointPublic, CheckpointsPublic, EventPublic, EventsPublic, MetricsPublic
from domain.jobs import job_reads

router = APIRouter(prefix="/jobs/{job_id}", tags=["job results"], responses=error_responses(404))

JobId = Annotated[str, Path(description="The job's id.", max_length=40)]
PRESIGNED_REDIRECT = {
    "description": "With SDD_S3_PRESIGNED_DOWNLOADS=true: the file is at the short-lived presigned URL in "
    "Location (SHA-256 in X-Content-SHA256).",
    "headers": {"Location": {"description": "The presigned URL.", "schema": {"type": "string"}}},
}


@router.get("/metrics", response_model=MetricsPublic, summary="Per-epoch metrics")
def job_metrics(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> MetricsPublic:
    """One row per finished epoch, in epoch order (accuracies in percent)."""
    job = job_reads.get_job(session, tenant.id, job_id)
    return MetricsPublic(data=job_reads.job_metrics(session, job.id))


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
