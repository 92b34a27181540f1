"""The trainer's callbacks for a job: progress, checkpoints, cancellation and the lease, in SQL.

Each callback opens its own short-lived session, so no transaction stays open while a model
trains. Per-batch hooks are throttled: the cancel flag is read at most once per
``CANCEL_POLL_SECONDS`` and the lease renewed at most once per ``LEASE_RENEW_SECONDS``.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from sdd_core.trainer.options import EpochMetrics, TrainCallbacks
from service import job_lifecycle
from service.db.models import Job, utcnow
from service.db.session import session_scope
from service.settings import Settings
from worker.job_artifacts import prune_checkpoints, store_artifact

log = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 1.0
LEASE_RENEW_SECONDS = 10.0


def json_safe(value: Any) -> Any:
    """``value`` with NaN/inf floats as None (PostgreSQL's JSON refuses them) and paths as text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


class JobCallbacks:
    """Trainer callbacks that record one job's progress; ``.train_callbacks()`` hands them over."""

    def __init__(
        self, job_id: str, settings: Settings, store: Any, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.job_id = job_id
        self.settings = settings
        self.store = store
        self.clock = clock
        self.cancelled = False
        self._next_cancel_poll = 0.0
        self._next_lease_renewal = clock() + LEASE_RENEW_SECONDS

    def train_callbacks(self) -> TrainCallbacks:
        return TrainCallbacks(
            on_epoch_end=self.on_epoch_end,
            on_checkpoint=self.on_checkpoint,
            on_batch_end=self.on_batch_end,
            should_stop=self.should_stop,
        )

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        with session_scope(self.settings) as session:
            job_lifecycle.record_epoch(session, self.job_id, json_safe(dict(metrics)))
        log.info(
            "job %s: epoch %s/%s recorded, val top-1 %.2f%%", self.job_id, metrics.get("epoch"),
            metrics.get("epochs"), float(metrics.get("val_top1") or 0.0),
        )
        self.renew_lease()

    def on_checkpoint(self, epoch: int, path: Path) -> None:
        with session_scope(self.settings) as session:
            row = store_artifact(session, self.store, self.job_id, "checkpoint", path, epoch=epoch)
            job_lifecycle.record_event(
                session, self.job_id, "checkpoint", f"checkpoint of epoch {epoch} stored",
                {"epoch": epoch, "key": row.key, "size_bytes": row.size_bytes},
            )
            session.commit()
            pruned = prune_checkpoints(session, self.store, self.job_id, self.settings.keep_checkpoints)
        log.info("job %s: checkpoint of epoch %d stored (%d bytes)", self.job_id, epoch, row.size_bytes)
        if pruned:
            log.info("job %s: removed checkpoints of epochs %s", self.job_id, pruned)

    def on_batch_end(self, epoch: int, batch: int, batches: int, losses: dict[str, float]) -> None:
        if self.clock() >= self._next_lease_renewal:
            self.renew_lease()

    def should_stop(self) -> bool:
        if self.cancelled:
            return True
        now = self.clock()
        if now < self._next_cancel_poll:
            return False
        self._next_cancel_poll = now + CANCEL_POLL_SECONDS
        with session_scope(self.settings) as session:
            self.cancelled = job_lifecycle.cancel_requested(session, self.job_id)
        if self.cancelled:
            log.info("job %s: cancel requested; stopping the training loop", self.job_id)
        return self.cancelled

    def renew_lease(self) -> None:
        """Push the job's lease ``job_lease_seconds`` ahead: this worker is alive and training."""
        self._next_lease_renewal = self.clock() + LEASE_RENEW_SECONDS
        with session_scope(self.settings) as session:
            session.execute(
                update(Job)
                .where(Job.id == self.job_id, Job.status.in_(("running", "cancelling")))
                .values(lease_expires_at=utcnow() + timedelta(seconds=self.settings.job_lease_seconds))
                .execution_options(synchronize_session=False)
            )
