"""Jobs: submit, list, read, cancel, resume."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import StringConstraints

from api.deps import CurrentTenant, JobIdempotencyKey, SessionDep, SettingsDep, mark_replayed
from api.pagination import PageDep
from api.schemas.errors import error_responses
from api.schemas.jobs import JobCreate, JobPublic, JobsPublic
from domain.jobs import job_reads
from domain.jobs.cancellation import cancel_job as cancel_owned_job
from domain.jobs.job_request import TAGS_MAX
from domain.jobs.resumption import resume_job as resume_owned_job
from domain.jobs.submission import submit_job
from domain.status import JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, Path(description="The job's id, e.g. job_3f9c…", max_length=40)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobPublic,
    responses=error_responses(400, 404, 409, 413),
    summary="Submit a distillation job",
)
def create_job(
    body: JobCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    tenant: CurrentTenant,
    idempotency_key: JobIdempotencyKey = None,
) -> JobPublic:
    """Validate the job, store it as ``queued`` and send it to the workers.

    Hyper-parameters left out take the method's default; the answer's ``spec`` shows every value
    the job will be trained with. Impossible combinations (class counts, scales larger than a
    model's final feature map, SD on a model without a pooled linear head) are refused here.
    """
    submission = submit_job(session, settings, tenant, body, idempotency_key)
    mark_replayed(response, submission.replayed)
    return JobPublic.from_row(submission.job)


@router.get("", response_model=JobsPublic, summary="List your jobs, newest first")
def list_jobs(
    session: SessionDep,
    tenant: CurrentTenant,
    page: PageDep,
    status_: Annotated[JobStatus | None, Query(alias="status", description="Only jobs in this status.")] = None,
    sweep_id: Annotated[
        str | None, Query(pattern=r"^swp_[0-9a-f]{24}$", description="Only the members of this sweep (swp_…).")
    ] = None,
    tag: Annotated[
        list[Annotated[str, StringConstraints(max_length=40)]] | None,
        Query(
            max_length=TAGS_MAX,
            description=f"Only jobs carrying this tag; repeat for jobs carrying all of them (at most {TAGS_MAX}).",
        ),
    ] = None,
    name: Annotated[
        str | None, Query(max_length=100, description="Only jobs whose name contains this text, ignoring case.")
    ] = None,
) -> JobsPublic:
    rows, has_more = job_reads.list_jobs(session, tenant.id, page, status_, sweep_id, tags=tag or (), name=name)
    return JobsPublic(data=[JobPublic.from_row(job) for job in rows], has_more=has_more)


@router.get("/{job_id}", response_model=JobPublic, responses=error_responses(404), summary="Read a job")
def get_job(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> JobPublic:
    return JobPublic.from_row(job_reads.get_job(session, tenant.id, job_id))


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses=error_responses(404, 409),
    summary="Cancel a job",
)
def cancel_job(job_id: JobId, session: SessionDep, tenant: CurrentTenant) -> JobPublic:
    """A queued job is cancelled at once; a running one becomes ``cancelling`` and stops at the next batch."""
    return JobPublic.from_row(cancel_owned_job(session, tenant.id, job_id))


@router.post(
    "/{job_id}/resume",
    response_model=JobPublic,
    responses=error_responses(404, 409, 429),
    summary="Resume a cancelled or failed job from its newest checkpoint",
)
def resume_job(job_id: JobId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant) -> JobPublic:
    """The same job queued again: its metrics, events and checkpoints are kept and a worker continues
    from its newest checkpoint. 409 for a job that succeeded or has not finished."""
    return JobPublic.from_row(resume_owned_job(session, settings, tenant, job_id))
