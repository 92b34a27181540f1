"""What a job leaves behind: per-epoch metrics, events, checkpoints, the student and its card."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.errors import ApiError
from api.ownership import get_owned
from api.schemas.errors import error_responses
from api.schemas.jobs import CheckpointPublic, CheckpointsPublic, EventPublic, EventsPublic, MetricsPublic
from service.artifacts import get_artifact_store
from service.db.models import Artifact, Job, JobEvent, JobMetric
from service.settings import Settings

router = APIRouter(prefix="/jobs/{job_id}", tags=["job results"], responses=error_responses(404))

JobId = Annotated[str, Path(description="The job's id.", max_length=40)]


@router.get("/metrics", response_model=MetricsPublic, summary="Per-epoch metrics")
def job_metrics(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> MetricsPublic:
    """One row per finished epoch, in epoch order (accuracies in percent)."""
    job = get_owned(session, Job, tenant.id, job_id, kind="job")
    rows = session.scalars(select(JobMetric).where(JobMetric.job_id == job.id).order_by(JobMetric.epoch))
    return MetricsPublic(data=[row.data for row in rows])


@router.get("/events", response_model=EventsPublic, summary="What happened to the job, in order")
def job_events(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> EventsPublic:
    job = get_owned(session, Job, tenant.id, job_id, kind="job")
    rows = session.scalars(select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id))
    return EventsPublic(
        data=[EventPublic(type=e.type, message=e.message, data=e.data, created_at=e.created_at) for e in rows]
    )


@router.get("/checkpoints", response_model=CheckpointsPublic, summary="Checkpoints kept for the job")
def job_checkpoints(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> CheckpointsPublic:
    job = get_owned(session, Job, tenant.id, job_id, kind="job")
    rows = session.scalars(
        select(Artifact)
        .where(Artifact.job_id == job.id, Artifact.kind == "checkpoint")
        .order_by(Artifact.epoch)
    )
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
            "description": "The distilled student's weights (safetensors); SHA-256 in X-Content-SHA256.",
        },
        **error_responses(409),
    },
    summary="Download the distilled student",
)
def job_student(
    job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant
) -> FileResponse:
    job = get_owned(session, Job, tenant.id, job_id, kind="job")
    artifact = _succeeded_artifact(session, job, "student")
    return FileResponse(
        _artifact_path(settings, artifact),
        media_type="application/octet-stream",
        filename=f"{job.id}-{job.spec['student'].replace('/', '_')}.safetensors",
        headers={"X-Content-SHA256": artifact.sha256},
    )


@router.get(
    "/student/card",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/json": {}}, "description": "The model card."},
        **error_responses(409),
    },
    summary="The distilled student's model card",
)
def job_student_card(
    job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant
) -> FileResponse:
    job = get_owned(session, Job, tenant.id, job_id, kind="job")
    artifact = _succeeded_artifact(session, job, "card")
    return FileResponse(
        _artifact_path(settings, artifact),
        media_type="application/json",
        headers={"X-Content-SHA256": artifact.sha256},
    )


def _succeeded_artifact(session: Session, job: Job, kind: str) -> Artifact:
    if job.status != "succeeded":
        raise ApiError(
            409,
            "job_not_succeeded",
            f"job {job.id} is {job.status}; its student exists once it has succeeded",
        )
    artifact = session.scalar(select(Artifact).where(Artifact.job_id == job.id, Artifact.kind == kind))
    if artifact is None:
        raise ApiError(404, "artifact_missing", f"job {job.id} has no stored {kind}")
    return artifact


def _artifact_path(settings: Settings, artifact: Artifact) -> str:
    path = get_artifact_store(settings).path(artifact.key)
    if not path.is_file():
        raise ApiError(
            404,
            "artifact_missing",
            f"the {artifact.kind} file of job {artifact.job_id} is missing from storage",
        )
    return str(path)
