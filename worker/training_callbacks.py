"""The trainer's callbacks for one attempt of a job: progress, checkpoints and when to stop, in SQL.

Each callback opens its own short-lived session, so no transaction stays open while a model
trains. ``should_stop`` runs after every batch and stops the loop for one of five reasons, kept
in ``stop_reason`` for the runner:

* ``shutdown`` — the worker is shutting down (``worker.shutdown``): the job is re-queued;
* ``timeout`` — the job ran longer than ``SDD_JOB_TIME_LIMIT_SECONDS`` over all its attempts;
* ``cancelled`` — a user asked to cancel (the flag is read at most once per ``CANCEL_POLL_SECONDS``);
* ``pruned`` — a search's rung left this trial behind (``jobs.prune_reason``, read with the cancel
  flag; the first poll after an epoch's end reads it at once, so a pruned trial trains one batch
  of the next epoch at most);
* and it raises ``LeaseLost`` once the job is no longer this attempt's (the heartbeat's renewal
  failed, or the poll finds another owner): the attempt stops without recording anything.

With an owner (``worker``), every write is fenced: epochs and checkpoints are recorded only while
that attempt still holds the job (``transitions.ensure_owner``).

``on_batch_end`` also runs after every batch; it stores the batch position (``jobs.batch`` /
``jobs.batches``) at most once per ``BATCH_PROGRESS_SECONDS``, plus at each epoch's last batch, and
otherwise costs one clock read. It is best effort: a database error is logged (at most once per
``BATCH_WARNING_SECONDS``) and training goes on.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from domain.jobs import transitions
from domain.jobs.transitions import LeaseLost
from domain.status import ACTIVE
from domain.sweeps import search_rungs
from sdd_core.trainer.options import EpochMetrics, TrainCallbacks
from service.artifacts import ArtifactStore
from service.db.session import session_scope
from service.settings import Settings
from worker import metrics as worker_metrics
from worker.database_outage import is_outage, through_outage
from worker.job_artifacts import prune_checkpoints, store_artifact
from worker.shutdown import shutdown_requested
from worker.tracking import RunTracking

log = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 1.0
BATCH_PROGRESS_SECONDS = 2.0
BATCH_WARNING_SECONDS = 60.0


def settle_search(settings: Settings, sweep_id: str) -> None:
    """Decide the rungs of a search that its trials' recorded epochs allow (``domain.sweeps.search_rungs``);
    best effort: a failure logs, and the next epoch, trial end or attempt start settles them."""
    try:
        with session_scope(settings) as session:
            search_rungs.settle_rungs(session, sweep_id)
    except SQLAlchemyError as exc:
        log.warning("sweep %s: could not settle its search's rungs (tried again later): %s", sweep_id,
                    getattr(exc, "orig", None) or exc)  # fmt: skip


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
    """Trainer callbacks that record one attempt's progress; ``.train_callbacks()`` hands them over."""

    def __init__(
        self,
        job_id: str,
        settings: Settings,
        store: ArtifactStore,
        worker: str | None = None,
        *,
        lost: threading.Event | None = None,
        prior_run_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        tracking: RunTracking | None = None,
        search_sweep: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.settings = settings
        self.store = store
        self.worker = worker
        self.lost = lost or threading.Event()
        self.prior_run_seconds = prior_run_seconds
        self.clock = clock
        self.tracking = tracking  # the job's experiment-tracker runs, told of each recorded epoch
        self.search_sweep = search_sweep  # the sweep whose search this job is a trial of: its rungs are settled
        self.stop_reason: str | None = None
        self.prune_reason: str | None = None
        self._started = clock()
        self._next_poll = 0.0
        self._next_batch_write = float("-inf")  # the first batch is always written
        self._next_batch_warning = float("-inf")

    def train_callbacks(self) -> TrainCallbacks:
        return TrainCallbacks(
            on_epoch_end=self.on_epoch_end,
            on_checkpoint=self.on_checkpoint,
            on_batch_end=self.on_batch_end,
            should_stop=self.should_stop,
        )

    def run_seconds(self) -> float:
        """This job's running time: earlier attempts plus this one so far."""
        return self.prior_run_seconds + (self.clock() - self._started)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self._check_lease()
        worker_metrics.epoch_finished(dict(metrics))
        row = json_safe(dict(metrics))

        def record() -> bool:
            with session_scope(self.settings) as session:
                return transitions.record_epoch(session, self.job_id, row, worker=self.worker)

        recorded = through_outage(self.settings, f"job {self.job_id}: recording epoch {metrics.get('epoch')}", record)
        if self.tracking is not None:
            self.tracking.epoch_ended()
        if self.search_sweep is not None:
            self._next_poll = 0.0  # a rung decided now is read at the next batch
            settle_search(self.settings, self.search_sweep)
        log.info(
            "job %s: epoch %s/%s %s, val top-1 %.2f%%",
            self.job_id,
            metrics.get("epoch"),
            metrics.get("epochs"),
            "recorded" if recorded else "replayed (recorded by an earlier attempt)",
            float(metrics.get("val_top1") or 0.0),
        )

    def on_checkpoint(self, epoch: int, path: Path) -> None:
        self._check_lease()
        row, pruned = through_outage(
            self.settings,
            f"job {self.job_id}: storing the checkpoint of epoch {epoch}",
            lambda: self._store(epoch, path),
        )
        log.info("job %s: checkpoint of epoch %d stored (%d bytes)", self.job_id, epoch, row.size_bytes)
        if pruned:
            log.info("job %s: removed checkpoints of epochs %s", self.job_id, pruned)

    def _store(self, epoch: int, path: Path) -> tuple[Any, list[int]]:
        with session_scope(self.settings) as session:
            if self.worker is not None:  # held until the commit: no other attempt writes this key meanwhile
                transitions.ensure_owner(session, self.job_id, self.worker)
            row = store_artifact(session, self.store, self.job_id, "checkpoint", path, epoch=epoch)
            transitions.record_event(
                session,
                self.job_id,
                "checkpoint",
                f"checkpoint of epoch {epoch} stored",
                {"epoch": epoch, "key": row.key, "size_bytes": row.size_bytes},
            )
            session.commit()
            pruned = prune_checkpoints(session, self.store, self.job_id, self.settings.keep_checkpoints)
        return row, pruned

    def on_batch_end(self, epoch: int, batch: int, batches: int, parts: dict[str, float]) -> None:
        """Store the batch position, throttled; ``parts`` (the step's losses) are not stored."""
        now = self.clock()
        if (now < self._next_batch_write and batch != batches) or self.lost.is_set():
            return
        self._next_batch_write = now + BATCH_PROGRESS_SECONDS
        try:
            with session_scope(self.settings) as session:
                transitions.record_batch_progress(session, self.job_id, epoch, batch, batches, self.worker)
        except SQLAlchemyError as exc:
            if now >= self._next_batch_warning:
                self._next_batch_warning = now + BATCH_WARNING_SECONDS
                reason = getattr(exc, "orig", None) or exc  # the driver's message, without SQLAlchemy's SQL dump
                log.warning("job %s: could not store batch progress (training goes on): %s", self.job_id, reason)

    def should_stop(self) -> bool:
        self._check_lease()
        if self.stop_reason is not None:
            return True
        limit = self.settings.job_time_limit_seconds
        if shutdown_requested():
            self.stop_reason = "shutdown"
            log.info("job %s: the worker is shutting down; stopping the training loop", self.job_id)
        elif limit and self.run_seconds() > limit:
            self.stop_reason = "timeout"
            log.info("job %s: ran %.0fs, over its time limit of %ds; stopping", self.job_id, self.run_seconds(), limit)
        elif self.clock() >= self._next_poll:
            self._next_poll = self.clock() + CANCEL_POLL_SECONDS
            self._poll()
        return self.stop_reason is not None

    def _poll(self) -> None:
        """Read the job's status, owner and cancel flag (one query); skipped while the database is away."""
        try:
            with session_scope(self.settings) as session:
                state = transitions.job_state(session, self.job_id)
        except SQLAlchemyError as exc:
            if not is_outage(exc):
                raise
            now = self.clock()
            if now >= self._next_batch_warning:
                self._next_batch_warning = now + BATCH_WARNING_SECONDS
                log.warning(
                    "job %s: cannot read the job's state (training goes on): %s", self.job_id, getattr(exc, "orig", exc)
                )
            return
        if state is None:
            raise LeaseLost(self.job_id, str(self.worker))
        status, owner, cancel, prune_reason = state
        if self.worker is not None and (owner != self.worker or status not in ACTIVE):
            self.lost.set()
            self._check_lease()
        if cancel:
            self.stop_reason = "cancelled"
            log.info("job %s: cancel requested; stopping the training loop", self.job_id)
        elif prune_reason is not None:
            self.stop_reason, self.prune_reason = "pruned", prune_reason
            log.info("job %s: %s; stopping the training loop", self.job_id, prune_reason)

    def _check_lease(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.job_id, str(self.worker))
