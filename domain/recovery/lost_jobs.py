"""Finding jobs that lost their worker or their broker message; run by every worker's reaper.

* ``reap_expired`` — a ``running``/``cancelling`` job whose lease expired lost its worker (killed
  outright, OOM-killed, frozen, cut off from the database). It goes back to ``queued`` to resume
  from its newest checkpoint elsewhere — unless that was its ``max_attempts``-th lost attempt
  (``failed``, code ``worker_lost``), a cancel was pending (``cancelled``) or a search's rung had
  pruned it (``pruned``: ``jobs.prune_reason``).
* ``jobs_to_enqueue`` — ``queued`` jobs whose last message is older than ``requeue_after``
  seconds: the broker may have lost it (Redis restarted empty, the API died between its commit
  and its send). Sending again is harmless: only one delivery can ``claim`` a job.

Both are conditional UPDATEs/SELECTs that several reapers may run at once. On PostgreSQL the
candidates are read ``FOR UPDATE SKIP LOCKED``, so two reapers never work on the same row, and a
worker renewing its lease at that moment either wins (the row no longer matches) or waits and
then finds it lost the job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from domain.jobs.transitions import NO_BATCH_PROGRESS, record_event, transition
from domain.status import ACTIVE, JobStatus
from service.db.models import Job, utcnow

log = logging.getLogger(__name__)

REAP_BATCH = 200  # rows per pass; the next pass takes the rest


@dataclass
class Reaped:
    """Job ids per outcome of one ``reap_expired`` pass."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def skip_locked(session: Session, query: Select) -> Select:
    """``query`` FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite has one writer at a time anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def _expired(now: datetime) -> Any:
    """The lease ran out (a running job without one, which no claim leaves, counts as expired)."""
    return or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now)


def reap_expired(session: Session, now: datetime | None = None, max_attempts: int = 3) -> Reaped:
    """Re-queue, fail or cancel every active job whose lease expired before ``now``. Commits.

    ``attempts`` counts claims whose attempt did not end on its own (a graceful shutdown gives
    its attempt back), so a job fails ``worker_lost`` after ``max_attempts`` lost attempts and
    never loops. The caller sends a message for each ``requeued`` job.
    """
    now = now or utcnow()
    candidates = session.execute(
        skip_locked(
            session,
            (
                select(Job.id, Job.status, Job.attempts, Job.worker, Job.epoch, Job.prune_reason)
                .where(Job.status.in_(ACTIVE), _expired(now))
                .order_by(Job.lease_expires_at)
                .limit(REAP_BATCH)
            ),
        )
    ).all()
    reaped = Reaped()
    for job_id, status, attempts, worker, epoch, prune_reason in candidates:
        expired = (Job.id == job_id, Job.status == status, _expired(now))
        lost = "its worker stopped renewing the lease"  # which worker: in the operators' log below
        if status == JobStatus.CANCELLING:
            outcome, values = "cancelled", {"status": JobStatus.CANCELLED, "finished_at": now}
            message, data = f"cancelled: {lost} while the job was being cancelled", {"attempt": attempts}
        elif prune_reason is not None:  # its rung decision stands: it is not trained again
            outcome, values = "pruned", {"status": JobStatus.PRUNED, "finished_at": now}
            message, data = f"{prune_reason} ({lost} before it stopped)", {"attempt": attempts}
        elif attempts >= max_attempts:
            error = (
                f"the job lost its worker {attempts} times (the last one after epoch {epoch}); giving up. "
                "Its newest checkpoint is kept; submit the job again, perhaps with a smaller batch_size"
            )
            outcome = "failed"
            values = {
                "status": JobStatus.FAILED,
                "finished_at": now,
                "error_code": "worker_lost",
                "error_message": error,
            }
            message, data = f"failed: {error}", {"error_code": "worker_lost", "attempt": attempts}
        else:
            outcome, values = "requeued", {"status": JobStatus.QUEUED, "worker": None, "enqueued_at": None}
            message = f"lease expired: {lost}; re-queued after attempt {attempts} of {max_attempts}"
            data = {"reason": "lease_expired", "attempt": attempts, "epoch": epoch}
        if transition(session, *expired, lease_expires_at=None, updated_at=now, **NO_BATCH_PROGRESS, **values):
            record_event(session, job_id, outcome, message, data)
            log.warning(
                "job %s: %s: worker %s stopped renewing its lease (attempt %d)", job_id, outcome, worker, attempts
            )
            getattr(reaped, outcome).append(job_id)
    session.commit()
    return reaped


def jobs_to_enqueue(session: Session, requeue_after: float, now: datetime | None = None, limit: int = 500) -> list[str]:
    """Ids of ``queued`` jobs whose last message was sent more than ``requeue_after`` seconds ago.

    A job never re-sent counts from its creation (the API sends right after its commit).
    """
    now = now or utcnow()
    last_sent = func.coalesce(Job.enqueued_at, Job.created_at)
    return list(
        session.scalars(
            select(Job.id)
            .where(Job.status == JobStatus.QUEUED, last_sent < now - timedelta(seconds=requeue_after))
            .order_by(Job.created_at)
            .limit(limit)
        )
    )
