"""A job's run in the experiment trackers it asked for (``"tracking": ["mlflow", "wandb"]``), fed
beside training so that a tracker never slows or fails the job.

One ``RunTracking`` per attempt of a job that asked for a tracker (``for_job``); the runner and the
trainer's callbacks only drop notes into its queue, and its own thread does the talking:

* at the start it opens each tracker's run (``worker.tracking_backends``), or continues the run an
  earlier attempt of the job stored in ``jobs.tracking`` (``transitions.record_tracking``: run id,
  link and the last epoch sent);
* after every epoch (``epoch_ended``) it sends the epochs recorded in ``job_metrics`` since the last
  one the tracker holds, so an epoch is sent once across attempts and one a tracker missed is sent
  when it answers again;
* when the attempt ends (``end``) it sends what is left, the student file(s) and the model card of
  a succeeded job, and ends the run with the job's outcome.

Each call waits at most ``SDD_TRACKING_TIMEOUT_S`` (uploads at the end: ``SDD_TRACKING_FLUSH_S``),
and ``close`` waits at most ``SDD_TRACKING_FLUSH_S`` after the end for all of it. A tracker that
fails or does not answer gets one ``tracking_unavailable`` event per attempt naming it and the error
(credentials and the service's folders taken out); training goes on, and the job succeeds.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.jobs import transitions
from domain.redaction import redact_paths
from service.db.models import Job, JobMetric, Tenant
from service.db.session import session_scope
from service.settings import Settings
from worker.tracking_backends import BACKENDS, EpochRow, RunContext, TrackerBackend, without_credentials

log = logging.getLogger(__name__)

T = TypeVar("T")
ERROR_MAX_CHARS = 300
CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "WANDB_API_KEY")


class TrackerTimeout(TimeoutError):
    """A tracker call did not return within its time."""


class Tracker:
    """One tracker of the job: its backend, its run as stored, and whether it is still answering."""

    def __init__(self, backend: TrackerBackend, stored: dict[str, Any]) -> None:
        self.backend = backend
        self.stored = dict(stored)  # {"run_id", "url", "epoch"} once its run is open
        self.opened = False
        self.reported = False  # its tracking_unavailable event of this attempt is recorded
        self.busy: threading.Thread | None = None  # a call that outlived its time and still runs

    @property
    def epoch(self) -> int:
        return int(self.stored.get("epoch") or 0)


class RunTracking:
    """The tracker runs of one attempt of a job; every public method returns at once except ``close``."""

    def __init__(
        self, settings: Settings, job_id: str, owner: str, trackers: list[Tracker], missing: list[str] | None = None
    ) -> None:
        self.settings = settings
        self.job_id = job_id
        self.owner = owner
        self.trackers = trackers
        self.missing = missing or []  # asked for, but turned off by the operator since the job was accepted
        self._queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"tracking-{job_id}", daemon=True)
        self._ended_at: float | None = None
        self._abandoned = threading.Event()

    @classmethod
    def for_job(cls, session: Session, settings: Settings, job: Job, owner: str) -> RunTracking | None:
        """Started tracking for ``job`` (its tenant read in ``session``), or None if it asked for no tracker."""
        names = [name for name in job.spec.get("tracking") or [] if name in BACKENDS]
        if not names:
            return None
        tenant = session.get(Tenant, job.tenant_id)
        context = RunContext(
            job_id=job.id, tenant=tenant.name if tenant else job.tenant_id, spec=job.spec, name=job.name, tags=job.tags
        )
        stored = job.tracking or {}
        trackers, missing = [], []
        for name in names:
            if settings.tracking_backends.get(name):
                trackers.append(Tracker(BACKENDS[name](settings, context), stored.get(name) or {}))
            else:
                missing.append(name)
        tracking = cls(settings, job.id, owner, trackers, missing)
        tracking._thread.start()
        tracking._queue.put(("sync", None))
        return tracking

    # ------------------------------------------------------------ called by the runner and callbacks

    def epoch_ended(self) -> None:
        """An epoch was recorded: send it (and any the trackers missed)."""
        self._queue.put(("sync", None))

    def end(self, outcome: str, files: list[Path]) -> None:
        """The attempt ended with ``outcome`` (a job status, or ``lost``): send what is left, upload
        ``files`` (a succeeded job's student and card) and end the runs."""
        if self._ended_at is None:
            self._ended_at = time.monotonic()
            self._queue.put(("end", (outcome, files)))

    def close(self) -> None:
        """Wait for the trackers at most ``tracking_flush_s`` after ``end`` (or now), then leave them."""
        started = self._ended_at if self._ended_at is not None else time.monotonic()
        self._queue.put(None)
        self._thread.join(max(0.0, started + self.settings.tracking_flush_s - time.monotonic()))
        if self._thread.is_alive():
            self._abandoned.set()
            log.warning(
                "job %s: the trackers were still busy after %.0f s (SDD_TRACKING_FLUSH_S); left behind",
                self.job_id,
                self.settings.tracking_flush_s,
            )

    # ------------------------------------------------------------ the tracking thread

    def _serve(self) -> None:
        for name in self.missing:
            self._record_event(name, f"{name} is no longer configured on this service; the run is not logged")
        for tracker in self.trackers:
            try:
                tracker.backend.prepare()  # imports the client library: seconds, no network
            except Exception as exc:
                self._unavailable(tracker, exc)
        while (task := self._queue.get()) is not None and not self._abandoned.is_set():
            kind, payload = task
            try:
                self._sync()
                if kind == "end":
                    self._finish(*payload)
            except Exception:  # never let the thread die: log and go on
                log.exception("job %s: tracking failed unexpectedly", self.job_id)

    def _sync(self) -> None:
        """Open the runs not open yet, then send each the recorded epochs it does not hold."""
        changed = False
        for tracker in self._answering():
            try:
                if not tracker.opened:
                    run, held = self._call(tracker, functools.partial(tracker.backend.open, tracker.stored))
                    tracker.stored.update(run_id=run.run_id, url=run.url, epoch=max(tracker.epoch, held))
                    tracker.opened = changed = True
                rows = self._rows_after(tracker.epoch)
                if rows:
                    self._call(tracker, functools.partial(tracker.backend.log_epochs, rows))
                    tracker.stored["epoch"] = rows[-1].epoch
                    changed = True
            except Exception as exc:
                self._unavailable(tracker, exc)
        if changed:
            self._store()

    def _finish(self, outcome: str, files: list[Path]) -> None:
        upload_seconds = max(self.settings.tracking_timeout_s, self.settings.tracking_flush_s)
        for tracker in self._answering():
            if not tracker.opened:
                continue
            try:
                if outcome == "succeeded" and files:
                    self._call(tracker, functools.partial(tracker.backend.log_files, files), upload_seconds)
                self._call(tracker, functools.partial(tracker.backend.close, outcome))
                log.info("job %s: %s run %s ended (%s)", self.job_id, tracker.backend.label,
                         tracker.stored.get("run_id"), outcome)  # fmt: skip
            except Exception as exc:
                self._unavailable(tracker, exc)

    def _answering(self) -> list[Tracker]:
        """The trackers with no call still running past its time (those are tried at the next note)."""
        return [tracker for tracker in self.trackers if tracker.busy is None or not tracker.busy.is_alive()]

    def _call(self, tracker: Tracker, call: Callable[[], T], seconds: float | None = None) -> T:
        """``call()`` on a thread of its own, waited for at most ``seconds`` (the tracking timeout)."""
        limit = float(seconds or self.settings.tracking_timeout_s)
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = call()
            except BaseException as exc:  # handed to the caller
                outcome["error"] = exc

        thread = threading.Thread(target=run, name=f"tracking-call-{self.job_id}", daemon=True)
        thread.start()
        thread.join(limit)
        if thread.is_alive():
            tracker.busy = thread
            raise TrackerTimeout(f"no answer within {limit:g} s (SDD_TRACKING_TIMEOUT_S)")
        if "error" in outcome:
            raise outcome["error"]
        return cast(T, outcome["value"])

    def _rows_after(self, epoch: int) -> list[EpochRow]:
        with session_scope(self.settings) as session:
            found = session.execute(
                select(JobMetric.epoch, JobMetric.data, JobMetric.created_at)
                .where(JobMetric.job_id == self.job_id, JobMetric.epoch > epoch)
                .order_by(JobMetric.epoch)
            ).all()
        return [EpochRow(row.epoch, row.data, row.created_at.timestamp()) for row in found]

    def _store(self) -> None:
        """The runs as they stand into ``jobs.tracking`` (only while this attempt still holds the job)."""
        runs = {t.backend.name: t.stored for t in self.trackers if t.stored.get("run_id")}
        try:
            with session_scope(self.settings) as session:
                transitions.record_tracking(session, self.job_id, runs, worker=self.owner)
        except Exception as exc:
            log.warning("job %s: could not store its tracker runs: %s", self.job_id, exc)

    def _unavailable(self, tracker: Tracker, exc: BaseException) -> None:
        error = self.describe(exc)
        log.warning("job %s: %s unavailable (training goes on): %s", self.job_id, tracker.backend.label, error)
        if not tracker.reported:
            tracker.reported = True
            message = (
                f"{tracker.backend.label} tracking unavailable: {error}; training goes on, and the run gets "
                f"what it missed if the tracker answers again (operator: check {tracker.backend.setting})"
            )
            self._record_event(tracker.backend.name, message, error)

    def _record_event(self, name: str, message: str, error: str | None = None) -> None:
        data = {"tracker": name, **({"error": error} if error else {})}
        try:
            with session_scope(self.settings) as session:
                transitions.record_event(session, self.job_id, "tracking_unavailable", message, data)
        except Exception as exc:
            log.warning("job %s: could not record a tracking event: %s", self.job_id, exc)

    def describe(self, exc: BaseException) -> str:
        """The error as a job event may show it: no credentials, no server paths, bounded in length."""
        text = without_credentials(f"{type(exc).__name__}: {exc}")
        secrets = [os.environ.get(name) for name in CREDENTIAL_VARIABLES]
        if self.settings.wandb_api_key is not None:
            secrets.append(self.settings.wandb_api_key.get_secret_value())
        for secret in filter(None, secrets):
            text = text.replace(secret, "***")
        text = re.sub(r"\s+", " ", redact_paths(text, self.settings)).strip()
        return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"
