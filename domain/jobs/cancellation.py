"""Where a job is cancelled: the one rule the REST route and the dashboard button both call.

A queued job is cancelled at once; a running one becomes ``cancelling``, and its worker stops at
the next batch and ends it ``cancelled`` (``domain.jobs.transitions.finish``); a finished job has
nothing to cancel (``Conflict``). If the worker's outcome lands between the read and the
UPDATE, the UPDATE matches nothing and the job keeps that outcome.

A sweep is cancelled member by member through the same rule (``cancel_sweep``): every member not
finished yet; a sweep whose members have all finished has nothing to cancel (``Conflict``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from domain.errors import Conflict
from domain.jobs.transitions import record_event, transition
from domain.ownership import get_owned
from domain.status import TERMINAL, JobStatus
from domain.sweeps.sweep_submission import sweep_members
from service.db.models import Job, Sweep, utcnow


def cancel_job(session: Session, tenant_id: str, job_id: str) -> Job:
    """Cancel the tenant's job ``job_id``; the job as it stands afterwards. Commits."""
    job = get_owned(session, Job, tenant_id, job_id, kind="job")
    if job.status in TERMINAL:
        raise Conflict(f"job {job.id} already {job.status}; there is nothing to cancel", code="job_finished")
    return request_cancel(session, job)


def cancel_sweep(session: Session, tenant_id: str, sweep_id: str) -> list[Job]:
    """Cancel every unfinished member of the tenant's sweep ``sweep_id``; the members afterwards. Commits."""
    sweep = get_owned(session, Sweep, tenant_id, sweep_id, kind="sweep")
    members = sweep_members(session, sweep.id)
    if all(job.status in TERMINAL for job in members):
        raise Conflict(
            f"every member of sweep {sweep.id} has already finished; there is nothing to cancel", code="sweep_finished"
        )
    for job in members:
        if job.status not in TERMINAL:
            request_cancel(session, job)
    return members


def request_cancel(session: Session, job: Job) -> Job:
    """Cancel a queued job at once; mark a running one ``cancelling``; leave others. Commits."""
    now = utcnow()
    if job.status == JobStatus.QUEUED:
        if transition(
            session,
            Job.id == job.id,
            Job.status == JobStatus.QUEUED,
            status=JobStatus.CANCELLED,
            cancel_requested=True,
            finished_at=now,
            updated_at=now,
        ):
            record_event(session, job.id, "cancelled", "cancelled before it started")
    elif job.status == JobStatus.RUNNING:
        if transition(
            session,
            Job.id == job.id,
            Job.status == JobStatus.RUNNING,
            status=JobStatus.CANCELLING,
            cancel_requested=True,
            updated_at=now,
        ):
            record_event(session, job.id, "cancelling", "cancel requested; stopping at the next batch")
    session.commit()
    session.refresh(job)
    return job
