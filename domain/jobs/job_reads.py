"""The read models of jobs: what the REST routes and the dashboard show, through the same functions.

Every function that takes a ``tenant_id`` reads only that tenant's rows (another tenant's job is
"not found"); the ones taking a job's id are called with a job already found that way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from domain.errors import Conflict, NotFound
from domain.ownership import PageParams, get_owned, page_of
from domain.status import JobStatus
from sdd_core.trainer.student_formats import STUDENT_SUFFIXES
from service.artifact_stores import get_artifact_store
from service.artifacts import STUDENT_EXPORT_KINDS
from service.db.models import Artifact, Job, JobEvent, JobMetric, JobTag
from service.local_store import LocalArtifactStore
from service.settings import Settings


def get_job(session: Session, tenant_id: str, job_id: str) -> Job:
    """The tenant's job ``job_id``; ``NotFound`` otherwise (also for another tenant's job)."""
    return get_owned(session, Job, tenant_id, job_id, kind="job")


def list_jobs(
    session: Session,
    tenant_id: str,
    page: PageParams,
    status: JobStatus | None = None,
    sweep_id: str | None = None,
    tags: Sequence[str] = (),
    name: str | None = None,
) -> tuple[Sequence[Job], bool]:
    """A page of the tenant's jobs, newest first: (jobs, whether more follow).

    Optionally only one status, one sweep's members, jobs carrying EVERY tag in ``tags``, or jobs
    whose name contains ``name`` (ignoring case).
    """
    filters = [Job.status == status] if status is not None else []
    if sweep_id is not None:
        filters.append(Job.sweep_id == sweep_id)
    filters.extend(Job.id.in_(select(JobTag.job_id).where(JobTag.tag == tag)) for tag in dict.fromkeys(tags))
    if name:
        filters.append(func.lower(Job.name).contains(name.lower(), autoescape=True))
    return page_of(session, Job, tenant_id, page, *filters)


def jobs_by_ids(session: Session, tenant_id: str, ids: list[str]) -> list[Job]:
    """The tenant's jobs among ``ids``, in the order given (others' and unknown ids left out)."""
    found = {job.id: job for job in session.scalars(select(Job).where(Job.tenant_id == tenant_id, Job.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def job_metrics(session: Session, job_id: str) -> list[dict[str, Any]]:
    """One metrics row per finished epoch, in epoch order."""
    return list(session.scalars(select(JobMetric.data).where(JobMetric.job_id == job_id).order_by(JobMetric.epoch)))


def latest_metrics(session: Session, jobs: Sequence[Job]) -> dict[str, dict[str, Any]]:
    """Each job's metrics row of its last finished epoch (jobs before their first epoch left out)."""
    pairs = [and_(JobMetric.job_id == job.id, JobMetric.epoch == job.epoch) for job in jobs if job.epoch > 0]
    if not pairs:
        return {}
    return {row.job_id: row.data for row in session.scalars(select(JobMetric).where(or_(*pairs)))}


def job_events(session: Session, job_id: str) -> list[JobEvent]:
    """What happened to the job, in order."""
    return list(session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))


def job_checkpoints(session: Session, job_id: str) -> list[Artifact]:
    """The end-of-epoch checkpoints kept for the job, by epoch."""
    return list(
        session.scalars(
            select(Artifact).where(Artifact.job_id == job_id, Artifact.kind == "checkpoint").order_by(Artifact.epoch)
        )
    )


def finished_artifact(session: Session, job: Job, kind: str) -> Artifact:
    """The ``student`` or ``card`` of a succeeded job; ``Conflict`` before, ``NotFound`` if it was not stored."""
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(
            f"job {job.id} is {job.status}; its student exists once it has succeeded", code="job_not_succeeded"
        )
    artifact = stored_artifact(session, job.id, kind)
    if artifact is None:
        raise NotFound(f"job {job.id} has no stored {kind}", code="artifact_missing")
    return artifact


@dataclass(frozen=True)
class ArtifactDownload:
    """How a stored artifact reaches a client: exactly one of a local ``path`` (the local store), a
    presigned ``url`` to send the client to, or an open ``stream`` to pass on (an object store)."""

    artifact: Artifact
    path: Path | None = None
    url: str | None = None
    stream: BinaryIO | None = None


def artifact_download(
    settings: Settings, artifact: Artifact, *, filename: str | None = None, media_type: str, redirect: bool = True
) -> ArtifactDownload:
    """Where to read ``artifact`` for a download; ``NotFound`` if it is missing from storage.

    ``redirect=False`` never answers with a URL (an image the dashboard embeds stays same-origin).
    """
    store = get_artifact_store(settings)
    try:
        if isinstance(store, LocalArtifactStore):
            return ArtifactDownload(artifact, path=store.fetch(artifact.key, artifact.sha256))
        url = store.download_url(artifact.key, filename=filename, media_type=media_type) if redirect else None
        if url is not None:
            return ArtifactDownload(artifact, url=url)
        return ArtifactDownload(artifact, stream=store.open(artifact.key))
    except FileNotFoundError as exc:
        raise NotFound(
            f"the {artifact.kind} file of job {artifact.job_id} is missing from storage", code="artifact_missing"
        ) from exc


STUDENT_FORMATS = tuple(STUDENT_SUFFIXES)
"""safetensors, onnx, torchscript: the formats a student downloads in."""


def student_artifact_kind(fmt: str) -> str:
    """The artifact kind a student in ``fmt`` is stored as: ``student``, ``student_onnx``, ..."""
    return "student" if fmt == "safetensors" else STUDENT_EXPORT_KINDS[fmt]


def student_filename(job: Job, fmt: str = "safetensors") -> str:
    """The download name of a job's student: ``<job id>-<arch><suffix>`` (``.safetensors``, ``.onnx``, ``.pt``)."""
    return f"{job.id}-{job.spec['student'].replace('/', '_')}{STUDENT_SUFFIXES[fmt]}"


def finished_student(session: Session, job: Job, fmt: str) -> Artifact:
    """A succeeded job's student in ``fmt``; ``NotFound`` naming why when that export was not kept."""
    if fmt == "safetensors":
        return finished_artifact(session, job, "student")
    if job.status != JobStatus.SUCCEEDED:
        return finished_artifact(session, job, "student")  # the Conflict for an unfinished job
    artifact = stored_artifact(session, job.id, student_artifact_kind(fmt))
    if artifact is None:
        reason = ((job.result or {}).get("refused_exports") or {}).get(fmt)
        detail = f": {reason}" if reason else " (it finished before students were exported in that format)"
        raise NotFound(
            f"job {job.id} has no {fmt} student{detail}; download format=safetensors instead",
            code="export_missing",
        )
    return artifact


def stored_artifact(session: Session, job_id: str, kind: str) -> Artifact | None:
    """The job's one artifact of ``kind`` (a plot, the metrics log), or None."""
    return session.scalar(select(Artifact).where(Artifact.job_id == job_id, Artifact.kind == kind))
