"""The Celery task that ingests a dataset: claim it in SQL, run the domain's ingestion, record the outcome.

``sdd.ingest_dataset`` runs on ``SDD_INGESTION_QUEUE`` (``sdd worker`` serves it unless
``--queues`` says otherwise). One attempt:

* the claim fails (another delivery runs it, or it is ready/failed): log, do nothing;
* a heartbeat thread renews the attempt's lease (``IngestionHeartbeat``); a worker killed
  outright stops renewing it and any worker's reaper hands the ingestion on
  (``domain.recovery.lost_ingestions``), failing it ``worker_lost`` after ``SDD_JOB_MAX_ATTEMPTS``
  lost attempts;
* the attempt first deletes what an earlier attempt of the dataset may have left (its shards,
  index, grid), then runs ``domain.datasets.ingestion_run``;
* it ends ``ready`` (an uploaded archive is then deleted: its images are in the shards), or
  ``failed`` with the error's code and message and every object it wrote deleted;
* SIGTERM (a warm shutdown, ``worker.shutdown``) stops it at its next image: it goes back to
  waiting with a fresh message at once, the attempt not counted; the next attempt starts over;
* an attempt that lost its lease stops at its next progress write and records nothing.

The attempt's work folder (``$SDD_HOME/work/ingestions/<id>/<attempt>``: the extracted archive,
the shard being written) is removed whatever the outcome.
"""

from __future__ import annotations

import errno
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from celery import Task

from domain.datasets import ingestion
from domain.datasets.ingestion import IngestionLost, ReadyFacts
from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.ingestion_report import IngestionStopped
from domain.datasets.ingestion_run import IngestionInput, ingestion_input, run_ingestion
from domain.datasets.sources import UPLOAD_SCHEME, upload_key
from domain.datasets.storage_quota import storage_used
from domain.datasets.stored_shards import QuotaGuard, discard_outputs
from domain.redaction import redact_paths
from domain.status import DatasetStatus
from service.artifact_stores import get_artifact_store
from service.artifacts import ArtifactStore
from service.broker import INGEST_DATASET_TASK, celery_app
from service.db.models import Dataset
from service.db.session import session_scope
from service.logs import add_to_context, bound
from service.settings import Settings, get_settings
from worker.runner import LOST, MISSING, attempt_owner
from worker.shutdown import refuse_while_shutting_down, shutdown_requested, stop_signal_sets_flag

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 1.0  # at most one progress write a second
SHUTDOWN_MESSAGE = "requeued: the worker is shutting down; the ingestion starts again on the next worker"


@celery_app.task(name=INGEST_DATASET_TASK, bind=True, acks_late=True, ignore_result=True)
def ingest_dataset_task(self: Task, dataset_id: str) -> str:
    """Ingest dataset ``dataset_id``; its status lives in SQL, not in Celery."""
    with stop_signal_sets_flag(), bound(dataset_id=dataset_id):
        log.info("dataset %s: ingestion delivered (message %s)", dataset_id, self.request.id)
        refuse_while_shutting_down(f"dataset {dataset_id}")
        return ingest_dataset(dataset_id)


def ingest_dataset(dataset_id: str, settings: Settings | None = None) -> str:
    """Claim and ingest ``dataset_id``; its status afterwards, or ``LOST``/``MISSING``."""
    settings = settings or get_settings()
    owner = attempt_owner()
    with session_scope(settings) as session:
        attempt = ingestion.claim(session, dataset_id, owner, settings.job_lease_seconds)
        row = session.get(Dataset, dataset_id)
        if row is None:
            log.warning("dataset %s: no such dataset; message dropped", dataset_id)
            return MISSING
        if attempt is None:
            log.info("dataset %s: not claimed, it is %s (worker %s); skipping this delivery", dataset_id,
                     row.status, row.worker)  # fmt: skip
            return row.status
        add_to_context(tenant_id=row.tenant_id)
        dataset = ingestion_input(session, dataset_id)
        quota = QuotaGuard(
            settings.tenant_storage_quota_bytes, storage_used(session, row.tenant_id) - row.storage_bytes
        )
    log.info("dataset %s: ingestion claimed by %s (attempt %d) from %s", dataset_id, owner, attempt, dataset.source)
    store = get_artifact_store(settings)
    work_dir = settings.work_dir / "ingestions" / dataset_id / owner.rsplit("/", 1)[-1]
    try:
        with IngestionHeartbeat(settings, dataset_id, owner) as heartbeat:
            return _attempt(settings, store, dataset, owner, quota, work_dir, heartbeat)
    finally:
        store.close()
        shutil.rmtree(work_dir, ignore_errors=True)


def _attempt(
    settings: Settings,
    store: ArtifactStore,
    dataset: IngestionInput,
    owner: str,
    quota: QuotaGuard,
    work_dir: Path,
    heartbeat: IngestionHeartbeat,
) -> str:
    dataset_id = dataset.dataset_id
    report = WorkerReport(settings, dataset_id, owner, heartbeat)
    try:
        left = discard_outputs(store, dataset_id)  # what an earlier attempt left behind
        if left:
            report.event("cleanup", f"deleted {left} object(s) an earlier attempt left", {"deleted": left})
        facts = run_ingestion(settings, store, dataset, quota, work_dir, report)
        return _record_ready(settings, store, dataset, owner, quota, facts)
    except IngestionLost:
        log.warning("dataset %s: %s lost the ingestion to another attempt; stopped without recording", dataset_id,
                    owner)  # fmt: skip
        return LOST
    except (IngestionStopped, KeyboardInterrupt, SystemExit) as exc:
        _requeue(settings, dataset_id, owner)
        if isinstance(exc, IngestionStopped):
            return DatasetStatus.INGESTING
        raise
    except Exception as exc:
        if heartbeat.lost.is_set():
            return LOST
        code, message = _failure(exc, settings)
        _discard(store, dataset_id)
        with session_scope(settings) as session:
            ingestion.mark_failed(session, dataset_id, owner, code, message)
        log.warning("dataset %s: ingestion failed: %s: %s", dataset_id, code, message)
        return DatasetStatus.FAILED


def _record_ready(
    settings: Settings, store: ArtifactStore, dataset: IngestionInput, owner: str, quota: QuotaGuard, facts: ReadyFacts
) -> str:
    """``ready``, unless the tenant's other datasets grew meanwhile past what the quota leaves."""
    dataset_id = dataset.dataset_id
    with session_scope(settings) as session:
        ingestion.ensure_owner(session, dataset_id, owner)  # holds the row until the commit
        row = session.get(Dataset, dataset_id)
        assert row is not None
        QuotaGuard(quota.quota_bytes, storage_used(session, row.tenant_id) - row.storage_bytes).check(
            facts.storage_bytes, f"the dataset's {facts.storage_bytes:,} bytes of shards"
        )
        if not ingestion.mark_ready(session, dataset_id, owner, facts):
            raise IngestionLost(dataset_id, owner)
        session.commit()
    log.info("dataset %s: ready (%d classes, %d train / %d val images, %d bytes stored)", dataset_id,
             len(facts.classes), facts.train_count, facts.val_count, facts.storage_bytes)  # fmt: skip
    if dataset.source.startswith(UPLOAD_SCHEME):  # its images are in the shards now
        try:
            store.delete(upload_key(dataset.source, dataset_id))
        except Exception:
            log.warning("dataset %s: could not delete the uploaded archive", dataset_id, exc_info=True)
    return DatasetStatus.READY


def _requeue(settings: Settings, dataset_id: str, owner: str) -> None:
    try:
        with session_scope(settings) as session:
            released = ingestion.release(session, dataset_id, owner, reason="shutdown", message=SHUTDOWN_MESSAGE)
        if released:
            log.info("dataset %s: ingestion re-queued (the worker is shutting down)", dataset_id)
            if ingestion.send_ingestion(settings, dataset_id):
                with session_scope(settings) as session:
                    ingestion.mark_enqueued(session, [dataset_id])
    except Exception:
        log.error("dataset %s: could not re-queue the ingestion; its lease will expire and a reaper re-queues it",
                  dataset_id, exc_info=True)  # fmt: skip


def _discard(store: ArtifactStore, dataset_id: str) -> None:
    try:
        discard_outputs(store, dataset_id)
    except Exception:  # the next attempt (if any) deletes them first; a failed dataset's are orphans
        log.error("dataset %s: could not delete what the failed ingestion wrote", dataset_id, exc_info=True)


def _failure(exc: BaseException, settings: Settings) -> tuple[str, str]:
    """The error code and user-facing message of a failed attempt."""
    if isinstance(exc, IngestionError):
        return exc.code, redact_paths(exc.message, settings)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "disk_full", "no space left on the worker's disk while ingesting; the operator must free some"
    log.error("dataset ingestion failed with an unexpected error", exc_info=exc)
    return "internal_error", redact_paths(f"{type(exc).__name__}: {exc}", settings)


class WorkerReport:
    """The domain's ``IngestionReport``: progress and events in SQL, fenced by the lease, at most
    one progress write a second; stops the ingestion when the worker shuts down."""

    def __init__(self, settings: Settings, dataset_id: str, owner: str, heartbeat: IngestionHeartbeat) -> None:
        self.settings, self.dataset_id, self.owner, self.heartbeat = settings, dataset_id, owner, heartbeat
        self.current = "starting"
        self.total: int | None = None
        self.written_at = 0.0

    def check(self) -> None:
        """``IngestionLost`` once the lease is gone, ``IngestionStopped`` once the worker shuts down."""
        if self.heartbeat.lost.is_set():
            raise IngestionLost(self.dataset_id, self.owner)
        if shutdown_requested():
            raise IngestionStopped()

    def stage(self, stage: str, total: int | None, message: str) -> None:
        self.check()
        self.current, self.total = stage, total
        self._write(0, event=message)

    def advance(self, done: int) -> None:
        self.check()
        if time.monotonic() - self.written_at >= PROGRESS_SECONDS:
            self._write(done)

    def event(self, type_: str, message: str, data: dict[str, Any] | None = None) -> None:
        with session_scope(self.settings) as session:
            ingestion.ensure_owner(session, self.dataset_id, self.owner)
            ingestion.record_event(session, self.dataset_id, type_, message, data)
            session.commit()

    def _write(self, done: int, event: str = "") -> None:
        with session_scope(self.settings) as session:
            ingestion.record_progress(session, self.dataset_id, self.owner, self.current, done, self.total, event=event)
        self.written_at = time.monotonic()


class IngestionHeartbeat:
    """Renews ``owner``'s lease on the ingestion every ``settings.lease_renew_interval`` seconds;
    sets ``lost`` once a renewal finds it no longer the owner's (a failed renewal, the database
    down, is retried every second)."""

    RETRY_SECONDS = 1.0

    def __init__(self, settings: Settings, dataset_id: str, owner: str) -> None:
        self.settings, self.dataset_id, self.owner = settings, dataset_id, owner
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{dataset_id}", daemon=True)

    def __enter__(self) -> IngestionHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        interval = self.settings.lease_renew_interval
        wait = interval
        while not self._stop.wait(wait):
            try:
                with session_scope(self.settings) as session:
                    renewed = ingestion.renew_lease(
                        session, self.dataset_id, self.owner, self.settings.job_lease_seconds
                    )
                if not renewed:
                    log.warning("dataset %s: %s lost the ingestion's lease", self.dataset_id, self.owner)
                    self.lost.set()
                    return
                wait = interval
            except Exception as exc:
                log.warning("dataset %s: could not renew the ingestion's lease (%s); retrying", self.dataset_id,
                            getattr(exc, "orig", exc))  # fmt: skip
                wait = min(interval, self.RETRY_SECONDS)
