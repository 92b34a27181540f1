"""Resuming a cancelled or failed job: the same job, queued again, continuing from its newest checkpoint.

The job keeps its id, its metrics, events and checkpoints: a worker that claims it resumes from
the newest checkpoint stored (as after a lost worker, ``worker.runner``), so the epochs already
recorded are not trained again. Its outcome (error, result, finish time) is cleared and its lost
attempts start counting afresh, so a job that failed ``worker_lost`` gets the reaper's full
patience again. A job that succeeded has nothing to resume, one that has not finished is still
going (``Conflict`` each); resuming counts against the jobs-in-flight limit like a submission.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from domain.errors import Conflict
from domain.jobs.submission import check_jobs_in_flight, send_to_workers
from domain.jobs.transitions import record_event, transition
from domain.ownership import get_owned
from domain.status import JobStatus
from service.db.models import Job, Tenant, utcnow
from service.settings import Settings

logger = logging.getLogger(__name__)

RESUMABLE = (JobStatus.CANCELLED, JobStatus.FAILED)


def _until_resumable(job: Job) -> str:
    """What to do about a job still going before it can be resumed."""
    wait = f"`sdd jobs cancel --wait {job.id}` returns once it has stopped"
    if job.status == JobStatus.CANCELLING:
        return f"it stops at its next batch; {wait}, then resume it"
    return f"it has not stopped; cancel it first ({wait}, keeping its checkpoints)"


def resume_job(session: Session, settings: Settings, tenant: Tenant, job_id: str) -> Job:
    """Queue the tenant's cancelled or failed job ``job_id`` again and send it to the workers. Commits."""
    job = get_owned(session, Job, tenant.id, job_id, kind="job")
    if job.status == JobStatus.SUCCEEDED:
        raise Conflict(f"job {job.id} succeeded; there is nothing to resume", code="job_succeeded")
    if job.status not in RESUMABLE:
        raise Conflict(
            f"job {job.id} is {job.status}; only a cancelled or failed job can be resumed: {_until_resumable(job)}",
            code="job_active",
        )
    check_jobs_in_flight(session, settings, tenant)
    previous = job.status
    now = utcnow()
    if not transition(
        session,
        Job.id == job.id,
        Job.status == previous,
        status=JobStatus.QUEUED,
        cancel_requested=False,
        result=None,
        error_code=None,
        error_message=None,
        finished_at=None,
        attempts=0,
        worker=None,
        lease_expires_at=None,
        enqueued_at=None,
        batch=None,
        batches=None,
        updated_at=now,
    ):
        session.rollback()
        raise Conflict(f"job {job.id} changed while it was being resumed; read it again", code="job_changed")
    done = f"{job.epoch} of {job.epochs} epochs recorded"
    record_event(
        session,
        job.id,
        "resumed_by_request",
        f"resume requested after it was {previous}: queued again ({done}; it continues from its newest checkpoint)",
        {"previous_status": str(previous), "epoch": job.epoch},
    )
    session.commit()
    session.refresh(job)
    logger.info("job %s: resumed by tenant %s after it was %s (%s)", job.id, tenant.name, previous, done)
    send_to_workers([job])
    return job
