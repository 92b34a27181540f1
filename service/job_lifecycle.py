"""Job state transitions, each one atomic in SQL, shared by the API and the workers.

    queued -> running -> succeeded | failed | cancelling -> cancelled
    queued -> cancelled

``claim`` is a single conditional UPDATE (queued -> running), so a message delivered twice never
trains twice: the second claim matches no row. Terminal states are never left.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db.models import TERMINAL_STATUSES, Job, JobEvent, JobMetric, utcnow


def record_event(session: Session, job_id: str, type_: str, message: str = "", data: dict[str, Any] | None = None) -> None:
    """Append an event row (committed by the caller)."""
    session.add(JobEvent(job_id=job_id, type=type_, message=message, data=data))


def claim(session: Session, job_id: str, worker: str, lease_seconds: int) -> bool:
    """queued -> running for exactly one caller; True if this caller won. Commits."""
    now = utcnow()
    won = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(
            status="running",
            worker=worker,
            started_at=now,
            attempts=Job.attempts + 1,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if won:
        record_event(session, job_id, "started", f"started on {worker}", {"worker": worker})
    session.commit()
    return won


def record_epoch(session: Session, job_id: str, metrics: dict[str, Any]) -> bool:
    """Store one finished epoch's metrics once and advance progress. False if already recorded."""
    epoch = int(metrics["epoch"])
    exists = session.scalar(select(JobMetric.id).where(JobMetric.job_id == job_id, JobMetric.epoch == epoch))
    if exists is not None:
        return False
    session.add(JobMetric(job_id=job_id, epoch=epoch, data=metrics))
    session.execute(
        update(Job).where(Job.id == job_id).values(epoch=epoch, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    record_event(
        session, job_id, "epoch",
        f"epoch {epoch}/{metrics.get('epochs')}: val top-1 {metrics.get('val_top1', float('nan')):.2f}%",
        {"epoch": epoch, "val_top1": metrics.get("val_top1")},
    )
    session.commit()
    return True


def cancel_requested(session: Session, job_id: str) -> bool:
    """Has a user asked to cancel this job? (Polled by the worker between batches.)"""
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def request_cancel(session: Session, job: Job) -> Job:
    """Cancel a queued job at once; mark a running one ``cancelling``; leave terminal ones. Commits."""
    now = utcnow()
    if job.status == "queued":
        changed = session.execute(
            update(Job).where(Job.id == job.id, Job.status == "queued")
            .values(status="cancelled", cancel_requested=True, finished_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed:
            record_event(session, job.id, "cancelled", "cancelled before it started")
    elif job.status == "running":
        changed = session.execute(
            update(Job).where(Job.id == job.id, Job.status == "running")
            .values(status="cancelling", cancel_requested=True, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed:
            record_event(session, job.id, "cancelling", "cancel requested; stopping at the next batch")
    session.commit()
    session.refresh(job)
    return job


def finish(
    session: Session,
    job_id: str,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    event_message: str = "",
) -> bool:
    """Move a running/cancelling job to a terminal state once. Commits; False if already terminal.

    A job whose user asked to cancel ends ``cancelled`` unless it already succeeded, so a cancel
    racing with completion still yields one consistent terminal state.
    """
    assert status in TERMINAL_STATUSES, status
    now = utcnow()
    changed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("running", "cancelling")))
        .values(
            status=status, result=result, error_code=error_code, error_message=error_message,
            finished_at=now, updated_at=now, lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if changed:
        data = {"error_code": error_code} if error_code else (result or None)
        record_event(session, job_id, status, event_message or status, data)
    session.commit()
    return changed
