"""The heartbeat of a running job: a thread that renews its lease until the attempt ends.

A thread rather than a per-batch hook, so the lease holds through the long stretches without
batches (loading a dataset, evaluating the teacher or a large validation set, writing a
checkpoint); a process that is killed, frozen or cut off from the database stops renewing, and
after ``job_lease_seconds`` the reaper of any worker re-queues its job.

When a renewal finds the job no longer ours (``renew_lease`` False) the heartbeat sets ``lost``;
the job's callbacks then raise ``LeaseLost`` at the next batch, so the attempt stops without
recording anything. A renewal that fails (database down) is retried every ``RETRY_SECONDS``
until one lands, so the lease is renewed within a second of the database coming back; reapers
hold off for a lease after an outage (``worker.reaper``). If the outage outlasts that, the job
may be handed to another worker and this attempt finds out when the database answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from domain.jobs import transitions
from service.db.session import session_scope
from service.settings import Settings
from worker import metrics as worker_metrics

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class LeaseHeartbeat:
    """Renews ``worker``'s lease on ``job_id`` every ``settings.lease_renew_interval`` seconds."""

    def __init__(self, settings: Settings, job_id: str, worker: str, run_seconds: Callable[[], float]) -> None:
        self.settings = settings
        self.job_id = job_id
        self.worker = worker
        self.run_seconds = run_seconds
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop renewing (the attempt has recorded its outcome); idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def renew(self) -> bool:
        """One renewal now; False (and ``lost`` set) if the job is no longer this attempt's."""
        with session_scope(self.settings) as session:
            renewed = transitions.renew_lease(
                session, self.job_id, self.worker, self.settings.job_lease_seconds, run_seconds=self.run_seconds()
            )
        if not renewed:
            self.lost.set()
        else:
            worker_metrics.lease_renewed()
        return renewed

    def _beat(self) -> None:
        interval = self.settings.lease_renew_interval
        wait = interval
        while not self._stop.wait(wait):
            started = time.monotonic()
            try:
                if not self.renew():
                    log.warning("job %s: %s lost its lease; the job runs elsewhere now", self.job_id, self.worker)
                    return
                wait = interval
            except Exception as exc:
                if wait == interval:  # the first failure of a run of them
                    log.warning(
                        "job %s: could not renew the lease (%s); retrying every %.0fs",
                        self.job_id,
                        getattr(exc, "orig", exc),
                        RETRY_SECONDS,
                    )
                wait = min(interval, RETRY_SECONDS)
            if time.monotonic() - started > interval:
                log.warning(
                    "job %s: renewing the lease took %.1fs (lease %ds)",
                    self.job_id,
                    time.monotonic() - started,
                    self.settings.job_lease_seconds,
                )
