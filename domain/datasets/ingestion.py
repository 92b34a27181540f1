"""An ingestion's transitions, each one atomic in SQL, shared by the API and the workers.

    ingesting (waiting) -> ingesting (claimed by a worker) -> ready | failed
    claimed -> waiting    (the worker shuts down: ``release``; lease expired:
                           ``domain.recovery.lost_ingestions``)
    failed -> waiting     (``start_ingestion`` again)

A dataset has no ``queued`` status: an ingestion waiting for a worker is ``ingesting`` with no
``worker``. ``claim`` is one conditional UPDATE (waiting -> claimed), so a message delivered twice
never ingests twice. As with a job's attempt, the claim writes the claimant's name and a lease
(``lease_expires_at``) that its heartbeat renews; every later write of the attempt (progress,
events, the outcome) names that owner in its WHERE clause, so an attempt whose lease ran out and
whose dataset moved on writes nothing. ``attempts`` counts claims whose attempt did not end on its
own (a graceful shutdown gives its attempt back).

Events say what happened, in order: ``registered`` (the API), ``ingesting`` (claimed, attempt n),
``cleanup`` (what an earlier attempt left, deleted), ``layout`` (the layout detected),
``progress`` (a stage begun), ``bad_files``, ``ready``, ``failed``, ``requeued`` (shutdown,
lease expired, restarted).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from domain.ownership import get_owned
from domain.status import DatasetStatus
from service.db.models import Dataset, DatasetEvent, utcnow
from service.job_queue import enqueue_ingestion
from service.settings import Settings

log = logging.getLogger(__name__)

EVENTS_LIMIT = 1000  # the newest events a read returns at most


class IngestionLost(Exception):
    """This attempt no longer owns the ingestion: its lease expired and it moved on without it."""

    def __init__(self, dataset_id: str, worker: str) -> None:
        super().__init__(f"dataset {dataset_id}: {worker} no longer holds the ingestion's lease")
        self.dataset_id = dataset_id
        self.worker = worker


@dataclass(frozen=True)
class IngestionOptions:
    """What the registration asked of the ingestion besides its source and layout."""

    crop_to_boxes: bool = False


@dataclass(frozen=True)
class ReadyFacts:
    """What a finished ingestion records on its dataset."""

    layout: str
    classes: list[str]
    image_size: int
    train_count: int
    val_count: int
    class_counts: dict[str, dict[str, int]]
    statistics: dict[str, Any]
    bad_files: list[dict[str, str]]
    index_key: str
    manifest_sha256: str
    storage_bytes: int


def record_event(
    session: Session, dataset_id: str, type_: str, message: str = "", data: dict[str, Any] | None = None
) -> None:
    """Append an event row (committed by the caller)."""
    session.add(DatasetEvent(dataset_id=dataset_id, type=type_, message=message, data=data))


def transition(session: Session, *where: Any, **values: Any) -> bool:
    """One conditional UPDATE of datasets (``where``: the state the row must be in); True if it
    matched a row. Every transition here and in ``domain.recovery.lost_ingestions`` is one."""
    statement = update(Dataset).where(*where).values(**values).execution_options(synchronize_session=False)
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1


def _owned_by(dataset_id: str, worker: str) -> tuple[Any, ...]:
    return (Dataset.id == dataset_id, Dataset.status == DatasetStatus.INGESTING, Dataset.worker == worker)


# ------------------------------------------------------------------ the API's side


def start_ingestion(session: Session, settings: Settings, dataset: Dataset) -> None:
    """Hand ``dataset`` to the workers: ``ingesting``, waiting for a worker, with a fresh attempt
    count; a failed dataset starts again (``requeued``). Commits, then sends the message; a broker
    that is down leaves it to a worker's reaper (``domain.recovery.lost_ingestions``)."""
    restarted = dataset.status == DatasetStatus.FAILED
    started = transition(
        session,
        Dataset.id == dataset.id,
        Dataset.status.in_((DatasetStatus.INGESTING, DatasetStatus.FAILED)),
        Dataset.worker.is_(None),
        status=DatasetStatus.INGESTING,
        attempts=0,
        lease_expires_at=None,
        progress={"stage": "queued", "done": 0, "total": None},
        error_code=None,
        error_message=None,
        updated_at=utcnow(),
    )
    if started and restarted:
        record_event(session, dataset.id, "requeued", "ingestion started again", {"reason": "restarted"})
    session.commit()
    if not started:
        log.info("dataset %s: not started, it is %s (worker %s)", dataset.id, dataset.status, dataset.worker)
        return
    send_ingestion(settings, dataset.id)


def send_ingestion(settings: Settings, dataset_id: str) -> bool:
    """Send the ingestion's message; False (logged) when the broker cannot take it now."""
    try:
        enqueue_ingestion(dataset_id, settings.ingestion_queue)
        return True
    except Exception as exc:  # the broker's many transport errors; the dataset is safe in SQL
        log.warning("dataset %s: ingestion not enqueued (%s: %s); a worker's reaper sends it", dataset_id,
                    type(exc).__name__, exc)  # fmt: skip
        return False


def dataset_events(
    session: Session, tenant_id: str, dataset_id: str, *, after_id: int = 0, limit: int = EVENTS_LIMIT
) -> Sequence[DatasetEvent]:
    """The tenant's dataset's events after event ``after_id``, oldest first (``NotFound`` for another
    tenant's dataset)."""
    get_owned(session, Dataset, tenant_id, dataset_id, kind="dataset")
    query = select(DatasetEvent).where(DatasetEvent.dataset_id == dataset_id, DatasetEvent.id > after_id)
    return session.scalars(query.order_by(DatasetEvent.id).limit(limit)).all()


def ingestion_options(session: Session, dataset_id: str) -> IngestionOptions:
    """The options of the dataset's newest ``registered`` event (``crop_to_boxes``)."""
    data = session.scalar(
        select(DatasetEvent.data)
        .where(DatasetEvent.dataset_id == dataset_id, DatasetEvent.type == "registered")
        .order_by(DatasetEvent.id.desc())
        .limit(1)
    )
    return IngestionOptions(crop_to_boxes=bool((data or {}).get("crop_to_boxes")))


# ------------------------------------------------------------------ a worker's attempt


def claim(session: Session, dataset_id: str, worker: str, lease_seconds: int) -> int | None:
    """waiting -> claimed by ``worker`` for exactly one caller; the attempt's number, or None if
    another caller holds it or it is not ingesting. Commits."""
    now = utcnow()
    won = transition(
        session,
        Dataset.id == dataset_id,
        Dataset.status == DatasetStatus.INGESTING,
        Dataset.worker.is_(None),
        worker=worker,
        attempts=Dataset.attempts + 1,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        progress={"stage": "starting", "done": 0, "total": None},
        updated_at=now,
    )
    attempt = None
    if won:
        attempt = session.scalar(select(Dataset.attempts).where(Dataset.id == dataset_id))
        record_event(session, dataset_id, "ingesting", f"ingesting (attempt {attempt})", {"attempt": attempt})
    session.commit()
    return attempt


def renew_lease(session: Session, dataset_id: str, worker: str, lease_seconds: int) -> bool:
    """Push ``worker``'s lease ``lease_seconds`` ahead; False if the ingestion is no longer its own. Commits."""
    renewed = transition(
        session, *_owned_by(dataset_id, worker), lease_expires_at=utcnow() + timedelta(seconds=lease_seconds)
    )
    session.commit()
    return renewed


def ensure_owner(session: Session, dataset_id: str, worker: str) -> None:
    """``IngestionLost`` unless ``worker`` still holds the ingestion; holds its row until commit."""
    if not transition(session, *_owned_by(dataset_id, worker), updated_at=utcnow()):
        session.rollback()
        raise IngestionLost(dataset_id, worker)


def record_progress(
    session: Session, dataset_id: str, worker: str, stage: str, done: int, total: int | None, *, event: str = ""
) -> None:
    """Store how far the attempt is (and, with ``event``, a ``progress`` event); ``IngestionLost``
    if it no longer owns the ingestion. Commits."""
    progress = {"stage": stage, "done": done, "total": total}
    if not transition(session, *_owned_by(dataset_id, worker), progress=progress, updated_at=utcnow()):
        session.rollback()
        raise IngestionLost(dataset_id, worker)
    if event:
        record_event(session, dataset_id, "progress", event, progress)
    session.commit()


def mark_ready(session: Session, dataset_id: str, worker: str, facts: ReadyFacts) -> bool:
    """claimed -> ready with what the ingestion found; False (nothing written) if ``worker`` lost
    it. The caller commits."""
    counts = facts.class_counts
    ready = transition(
        session,
        *_owned_by(dataset_id, worker),
        status=DatasetStatus.READY,
        worker=None,
        lease_expires_at=None,
        progress=None,
        layout=facts.layout,
        classes=facts.classes,
        num_classes=len(facts.classes),
        image_size=facts.image_size,
        train_count=facts.train_count,
        val_count=facts.val_count,
        class_counts=counts,
        statistics=facts.statistics,
        bad_files=facts.bad_files,
        index_key=facts.index_key,
        manifest_sha256=facts.manifest_sha256,
        storage_bytes=facts.storage_bytes,
        error_code=None,
        error_message=None,
        updated_at=utcnow(),
    )
    if ready:
        message = (
            f"ready: {len(facts.classes)} classes, {facts.train_count} train / {facts.val_count} val images"
            f" at {facts.image_size} px"
        )
        bad = int(facts.statistics.get("bad_file_count", 0))
        message += f"; {bad} bad file(s) left out" if bad else ""
        record_event(session, dataset_id, "ready", message, {"manifest_sha256": facts.manifest_sha256})
    return ready


def mark_failed(session: Session, dataset_id: str, worker: str | None, code: str, message: str) -> bool:
    """ingesting -> failed with ``code`` and ``message`` (held by ``worker``, or by nobody when
    ``worker`` is None); False if not so. Commits. ``storage_bytes`` stays what the dataset keeps
    (an uploaded archive, for a later start; the attempt's shards are deleted by its caller)."""
    where = (
        _owned_by(dataset_id, worker)
        if worker is not None
        else (Dataset.id == dataset_id, Dataset.status == DatasetStatus.INGESTING)
    )
    failed = transition(
        session,
        *where,
        status=DatasetStatus.FAILED,
        worker=None,
        lease_expires_at=None,
        progress=None,
        error_code=code,
        error_message=message,
        updated_at=utcnow(),
    )
    if failed:
        record_event(session, dataset_id, "failed", f"failed: {message}", {"error_code": code})
    session.commit()
    return failed


def release(session: Session, dataset_id: str, worker: str, *, reason: str, message: str) -> bool:
    """claimed -> waiting without counting the attempt (the worker is shutting down); False if
    ``worker`` no longer holds it. Commits; the caller sends a fresh message."""
    released = transition(
        session,
        *_owned_by(dataset_id, worker),
        worker=None,
        lease_expires_at=None,
        attempts=Dataset.attempts - 1,
        progress={"stage": "queued", "done": 0, "total": None},
        updated_at=utcnow(),
    )
    if released:
        record_event(session, dataset_id, "requeued", message, {"reason": reason})
    session.commit()
    return released


def mark_enqueued(session: Session, dataset_ids: Sequence[str]) -> None:
    """Note that a message was just sent for these waiting ingestions (``updated_at``). Commits."""
    if dataset_ids:
        waiting = update(Dataset).where(
            Dataset.id.in_(list(dataset_ids)), Dataset.status == DatasetStatus.INGESTING, Dataset.worker.is_(None)
        )
        session.execute(waiting.values(updated_at=utcnow()).execution_options(synchronize_session=False))
    session.commit()
