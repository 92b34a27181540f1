"""Job state transitions, each one atomic in SQL, shared by the API and the workers.

    queued -> running -> succeeded | failed | cancelling -> cancelled
    queued -> cancelled        (``domain.jobs.cancellation``, like running -> cancelling)
    running -> queued          (the worker shuts down: ``release``; lease expired: ``domain.recovery.lost_jobs``)
    queued | running -> pruned (a search's rung: ``domain.sweeps.search_rungs``; a running job stops at its
                                next batch, and one handed back meanwhile ends ``pruned`` instead of queued)

Every transition is one conditional UPDATE through ``transition`` (the statuses a row must be in,
the columns to set), so two writers racing for one job never both win. ``claim`` is such an UPDATE (queued -> running), so a message delivered twice never
trains twice: the second claim matches no row. Terminal states are never left.

**Ownership.** A claim writes the claimant's name into ``jobs.worker`` and gives it a lease
(``lease_expires_at``) that its heartbeat renews (``renew_lease``). Every write an attempt makes
afterwards names that owner in its WHERE clause, so once a lease expired and the job was handed
to another attempt, the old attempt's writes match nothing: ``renew_lease`` returns False,
``record_epoch``/``ensure_owner`` raise ``LeaseLost``, ``finish``/``release`` change nothing and
``record_batch_progress`` writes nothing.

**Progress.** ``jobs.epoch`` is the last finished epoch; while a job runs, ``jobs.batch`` /
``jobs.batches`` say how far the epoch in progress is (``batch`` is NULL until its first report).
Finishing an epoch clears ``batch``; leaving ``running`` (finish, release, the reaper) clears both.

**Cancel racing completion.** The first conditional UPDATE to land decides: a cancel committed
before the worker records its outcome leaves the job ``cancelling``, and ``finish`` then ends it
``cancelled`` whatever the worker reports; an outcome recorded first is terminal, and the cancel
request (``domain.jobs.cancellation``) sees it and does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from domain.status import ACTIVE, TERMINAL, JobStatus
from service.db.models import Job, JobEvent, JobMetric, utcnow

RESULT_DETAIL_KEYS = frozenset({"per_class", "confusion"})  # in job.result, too large for an event
NO_BATCH_PROGRESS: dict[str, Any] = {"batch": None, "batches": None}  # set as an attempt starts or ends


class LeaseLost(Exception):
    """This attempt no longer owns the job: its lease expired and the job moved on without it."""

    def __init__(self, job_id: str, worker: str) -> None:
        super().__init__(f"job {job_id}: {worker} no longer holds its lease")
        self.job_id = job_id
        self.worker = worker


def record_event(
    session: Session, job_id: str, type_: str, message: str = "", data: dict[str, Any] | None = None
) -> None:
    """Append an event row (committed by the caller)."""
    session.add(JobEvent(job_id=job_id, type=type_, message=message, data=data))


def _owned_by(job_id: str, worker: str | None) -> tuple[Any, ...]:
    """WHERE clauses: the job is active and, if ``worker`` is given, still claimed by it."""
    clauses: tuple[Any, ...] = (Job.id == job_id, Job.status.in_(ACTIVE))
    return clauses if worker is None else (*clauses, Job.worker == worker)


def transition(session: Session, *where: Any, **values: Any) -> bool:
    """One conditional UPDATE of jobs (``where``: the state the row must be in); True if it matched a row."""
    result = session.execute(update(Job).where(*where).values(**values).execution_options(synchronize_session=False))
    return cast(CursorResult[Any], result).rowcount == 1


# ------------------------------------------------------------------ claim and lease


def claim(session: Session, job_id: str, worker: str, lease_seconds: int) -> bool:
    """queued -> running for exactly one caller; True if this caller won. Commits."""
    now = utcnow()
    won = transition(
        session,
        Job.id == job_id,
        Job.status == JobStatus.QUEUED,
        status=JobStatus.RUNNING,
        worker=worker,
        started_at=now,
        attempts=Job.attempts + 1,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        updated_at=now,
        **NO_BATCH_PROGRESS,
    )
    if won:  # the worker's name (host:pid) is for operators' logs, never in what the tenant reads
        attempt = session.scalar(select(Job.attempts).where(Job.id == job_id))
        record_event(session, job_id, "started", f"started (attempt {attempt})", {"attempt": attempt})
    session.commit()
    return won


def renew_lease(
    session: Session, job_id: str, worker: str, lease_seconds: int, *, run_seconds: float | None = None
) -> bool:
    """Push the lease of ``worker``'s job ``lease_seconds`` ahead. Commits.

    False: the job is no longer running under ``worker`` (lease expired and re-queued, finished,
    cancelled); that attempt must stop training at once without recording anything.
    ``run_seconds``, if given, is stored as the job's running time over all attempts.
    """
    now = utcnow()
    values: dict[str, Any] = {"lease_expires_at": now + timedelta(seconds=lease_seconds)}
    if run_seconds is not None:
        values["run_seconds"] = run_seconds
    renewed = transition(session, *_owned_by(job_id, worker), **values)
    session.commit()
    return renewed


def ensure_owner(session: Session, job_id: str, worker: str) -> None:
    """Raise ``LeaseLost`` unless ``worker`` still runs the job; holds the job's row until commit.

    A conditional UPDATE rather than a SELECT: it takes the row lock on PostgreSQL (the write
    lock on SQLite), so a writer that follows in the same transaction cannot interleave with the
    reaper handing the job to another attempt.
    """
    if not transition(session, *_owned_by(job_id, worker), updated_at=utcnow()):
        session.rollback()
        raise LeaseLost(job_id, worker)


# ------------------------------------------------------------------ progress


def record_epoch(session: Session, job_id: str, metrics: dict[str, Any], worker: str | None = None) -> bool:
    """Store one finished epoch's metrics once and advance progress. Commits; False if already recorded.

    An epoch replayed by a resumed attempt is not recorded again. With ``worker``, raises
    ``LeaseLost`` if that attempt no longer owns the job.
    """
    if worker is not None:
        ensure_owner(session, job_id, worker)
    epoch = int(metrics["epoch"])
    exists = session.scalar(select(JobMetric.id).where(JobMetric.job_id == job_id, JobMetric.epoch == epoch))
    if exists is not None:
        session.commit()
        return False
    session.add(JobMetric(job_id=job_id, epoch=epoch, data=metrics))
    transition(session, Job.id == job_id, epoch=epoch, batch=None, updated_at=utcnow())
    top1 = metrics.get("val_top1")
    shown = f"{top1:.2f}%" if isinstance(top1, (int, float)) else "n/a"
    record_event(
        session,
        job_id,
        "epoch",
        f"epoch {epoch}/{metrics.get('epochs')}: val top-1 {shown}",
        {"epoch": epoch, "val_top1": top1},
    )
    session.commit()
    return True


def record_tracking(session: Session, job_id: str, tracking: dict[str, Any], worker: str | None = None) -> bool:
    """Store the job's tracker runs (``jobs.tracking``, see ``worker.tracking``) while ``worker`` is
    still its last owner (also once the attempt has finished the job: its last epochs are sent after).
    Commits; False if another attempt took the job or it went back to the queue."""
    owner = () if worker is None else (Job.worker == worker,)
    stored = transition(session, Job.id == job_id, *owner, tracking=tracking)
    session.commit()
    return stored


def record_batch_progress(
    session: Session, job_id: str, epoch: int, batch: int, batches: int, worker: str | None
) -> bool:
    """Store that ``batch`` of ``batches`` of ``epoch`` (the epoch in progress) are done. Commits.

    One UPDATE, fenced like every write of an attempt: False, and nothing written, when ``worker``
    no longer runs the job or ``epoch`` is not the one after the last finished epoch (a resumed
    attempt replaying a recorded epoch). Never raises ``LeaseLost``: a stale attempt's progress is
    simply dropped, and the attempt learns it lost the job from its next lease check.
    """
    written = transition(session, *_owned_by(job_id, worker), Job.epoch == epoch - 1, batch=batch, batches=batches)
    session.commit()
    return written


def record_early_stop(session: Session, job_id: str, epoch: int, patience: int, worker: str | None) -> bool:
    """A job that stopped early trained ``epoch`` epochs in all: ``jobs.epochs`` becomes that, so its
    progress reads complete (the spec keeps the epochs asked for), and an event says why. The
    caller commits; False, and nothing written, when ``worker`` no longer runs the job."""
    if not transition(session, *_owned_by(job_id, worker), epochs=epoch, updated_at=utcnow()):
        return False
    message = f"stopped early at epoch {epoch} (no top-1 gain for {patience} epochs)"
    record_event(session, job_id, "stopped_early", message, {"epoch": epoch, "patience": patience})
    return True


def job_state(session: Session, job_id: str) -> tuple[str, str | None, bool, str | None] | None:
    """(status, worker, cancel_requested, prune_reason) of a job, or None; the worker polls it between batches."""
    row = session.execute(
        select(Job.status, Job.worker, Job.cancel_requested, Job.prune_reason).where(Job.id == job_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1], bool(row[2]), row[3])


# ------------------------------------------------------------------ release, finish


def release(
    session: Session,
    job_id: str,
    worker: str,
    *,
    reason: str,
    message: str,
    run_seconds: float | None = None,
    counted: bool = False,
) -> str | None:
    """Hand a job that ``worker`` stops running back to the queue, not counting the attempt (unless
    ``counted``: an attempt that failed in a way worth one more try, such as a lost rank). Commits.

    For a worker shutting down: running -> queued (``attempts`` decremented, event ``requeued``
    with ``data.reason``); a job being cancelled ends ``cancelled`` instead, and one a search's rung
    pruned ends ``pruned``. Returns the job's new
    status, or None if ``worker`` no longer owned it (nothing changed). The caller sends a new
    message (and records it with ``mark_enqueued``); if it cannot, the reconciler will.
    """
    now = utcnow()
    values: dict[str, Any] = {}
    if run_seconds is not None:
        values["run_seconds"] = run_seconds
    epoch = session.scalar(select(Job.epoch).where(Job.id == job_id))
    if transition(
        session,
        Job.id == job_id,
        Job.status == JobStatus.RUNNING,
        Job.worker == worker,
        Job.prune_reason.is_(None),
        status=JobStatus.QUEUED,
        worker=None,
        lease_expires_at=None,
        attempts=Job.attempts if counted else Job.attempts - 1,
        enqueued_at=None,
        updated_at=now,
        **NO_BATCH_PROGRESS,
        **values,
    ):
        record_event(session, job_id, "requeued", message, {"reason": reason, "epoch": epoch})
        session.commit()
        return "queued"
    session.rollback()
    prune_reason = session.scalar(select(Job.prune_reason).where(Job.id == job_id))
    if prune_reason is not None and finish(
        session, job_id, JobStatus.PRUNED, worker=worker, event_message=prune_reason
    ):
        return "pruned"
    if finish(session, job_id, JobStatus.CANCELLED, worker=worker, event_message=f"cancelled ({message})"):
        return "cancelled"
    return None


def finish(
    session: Session,
    job_id: str,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    event_message: str = "",
    worker: str | None = None,
    run_seconds: float | None = None,
) -> bool:
    """Move a running/cancelling job to a terminal state once. Commits; False if nothing changed.

    A ``cancelling`` job ends ``cancelled`` whatever ``status`` is asked for (the cancel landed
    first, see the module docstring). With ``worker``, only that attempt's job is touched.
    """
    assert status in TERMINAL, status
    now = utcnow()
    owner = () if worker is None else (Job.worker == worker,)
    done: dict[str, Any] = dict(finished_at=now, updated_at=now, lease_expires_at=None, **NO_BATCH_PROGRESS)
    if run_seconds is not None:  # the attempt's last word on its running time (heartbeats write it meanwhile)
        done["run_seconds"] = run_seconds
    changed = transition(
        session,
        Job.id == job_id,
        Job.status == JobStatus.RUNNING,
        *owner,
        status=status,
        result=result,
        error_code=error_code,
        error_message=error_message,
        **done,
    )
    if changed:
        # The event carries the headline figures; per-class counts and the confusion stay on the job.
        summary = {k: v for k, v in (result or {}).items() if k not in RESULT_DETAIL_KEYS}
        data = {"error_code": error_code} if error_code else (summary or None)
        record_event(session, job_id, status, event_message or status, data)
    elif transition(
        session, Job.id == job_id, Job.status == JobStatus.CANCELLING, *owner, status=JobStatus.CANCELLED, **done
    ):
        message = (
            (event_message or "cancelled")
            if status == "cancelled"
            else (f"cancelled (the worker had reached {status}; the cancel request came first)")
        )
        record_event(session, job_id, "cancelled", message)
        changed = True
    session.commit()
    return changed


# ------------------------------------------------------------------ the broker


def mark_enqueued(session: Session, job_ids: Iterable[str], now: datetime | None = None) -> None:
    """Record that a message was just sent for each of ``job_ids`` (still queued). Commits."""
    ids = list(job_ids)
    if ids:
        session.execute(
            update(Job)
            .where(Job.id.in_(ids), Job.status == JobStatus.QUEUED)
            .values(enqueued_at=now or utcnow())
            .execution_options(synchronize_session=False)
        )
    session.commit()
