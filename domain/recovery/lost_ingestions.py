"""Finding ingestions that lost their worker or their broker message; run by every worker's reaper.

* ``reap_expired`` — an ingestion claimed by a worker whose lease expired lost its worker
  (killed outright, frozen, cut off from the database). It goes back to waiting, to start again
  on the next worker (which first deletes the shards the lost attempt left), unless that was its
  ``max_attempts``-th lost attempt: ``failed``, code ``worker_lost``; the caller deletes the
  attempt's shards then.
* ``ingestions_to_enqueue`` — ingestions waiting for a worker whose last message is older than
  ``requeue_after`` seconds: the broker may have lost it, or the API could not send it. Sending
  again is harmless: only one delivery can claim an ingestion.

Conditional UPDATEs that several reapers may run at once; on PostgreSQL the candidates are read
``FOR UPDATE SKIP LOCKED``, as for jobs (``domain.recovery.lost_jobs``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.datasets import ingestion
from domain.recovery.lost_jobs import REAP_BATCH, skip_locked
from domain.status import DatasetStatus
from service.db.models import Dataset, utcnow

log = logging.getLogger(__name__)


@dataclass
class ReapedIngestions:
    """Dataset ids per outcome of one ``reap_expired`` pass."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def reap_expired(session: Session, now: datetime | None = None, max_attempts: int = 3) -> ReapedIngestions:
    """Send back to waiting, or fail ``worker_lost`` after ``max_attempts`` lost attempts, every
    claimed ingestion whose lease expired before ``now``. Commits; the caller sends a message for
    each ``requeued`` one and deletes the shards of each ``failed`` one."""
    now = now or utcnow()
    expired = (
        Dataset.status == DatasetStatus.INGESTING,
        Dataset.worker.is_not(None),
        func.coalesce(Dataset.lease_expires_at, now - timedelta(seconds=1)) < now,
    )
    candidates = session.execute(
        skip_locked(
            session,
            select(Dataset.id, Dataset.attempts, Dataset.worker)
            .where(*expired)
            .order_by(Dataset.lease_expires_at)
            .limit(REAP_BATCH),
        )
    ).all()
    reaped = ReapedIngestions()
    lost = "its worker stopped renewing the lease"
    for dataset_id, attempts, worker in candidates:
        if attempts >= max_attempts:
            error = f"the ingestion lost its worker {attempts} times; giving up (start it again to retry)"
            changed = ingestion.transition(
                session, Dataset.id == dataset_id, *expired, status=DatasetStatus.FAILED, worker=None,
                lease_expires_at=None, progress=None, error_code="worker_lost", error_message=error, updated_at=now,
            )  # fmt: skip
            if changed:
                ingestion.record_event(session, dataset_id, "failed", f"failed: {error}", {"error_code": "worker_lost"})
                reaped.failed.append(dataset_id)
        else:
            changed = ingestion.transition(
                session, Dataset.id == dataset_id, *expired, worker=None, lease_expires_at=None,
                progress={"stage": "queued", "done": 0, "total": None}, updated_at=now,
            )  # fmt: skip
            if changed:
                message = f"lease expired: {lost}; started again after attempt {attempts} of {max_attempts}"
                data = {"reason": "lease_expired", "attempt": attempts}
                ingestion.record_event(session, dataset_id, "requeued", message, data)
                reaped.requeued.append(dataset_id)
        if changed:
            log.warning("dataset %s: worker %s stopped renewing its lease (attempt %d)", dataset_id, worker, attempts)
    session.commit()
    return reaped


def ingestions_to_enqueue(
    session: Session, requeue_after: float, now: datetime | None = None, limit: int = 500
) -> list[str]:
    """Ids of ingestions waiting for a worker whose last message (``updated_at``) was sent more than
    ``requeue_after`` seconds ago."""
    now = now or utcnow()
    last_sent = func.coalesce(Dataset.updated_at, Dataset.created_at)
    return list(
        session.scalars(
            select(Dataset.id)
            .where(
                Dataset.status == DatasetStatus.INGESTING,
                Dataset.worker.is_(None),
                last_sent < now - timedelta(seconds=requeue_after),
            )
            .order_by(Dataset.created_at)
            .limit(limit)
        )
    )
