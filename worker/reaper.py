"""Every worker's reaper: recovers jobs whose worker vanished and jobs the broker lost.

A daemon thread in the worker's main process (started on ``worker_ready``, see
``worker.tasks``) runs ``reap_and_reconcile`` every ``settings.reaper_interval`` seconds
(``SDD_REAPER_INTERVAL_SECONDS``, default a quarter of the lease):

1. **Leases.** Jobs whose lease expired are re-queued (and sent), failed ``worker_lost`` after
   ``SDD_JOB_MAX_ATTEMPTS`` lost attempts, or cancelled if a cancel was pending
   (``domain.recovery.lost_jobs.reap_expired``).
2. **Broker.** The database is the record of every job: a job ``queued`` in SQL whose last
   message is older than ``SDD_REQUEUE_AFTER_SECONDS`` is sent again, unless the broker shows
   its message still waiting (``worker.broker_messages``). This brings back jobs lost with a
   Redis restarted empty, or never sent because the API died between its commit and its send.

Dataset ingestions get the same two passes (``domain.recovery.lost_ingestions``): one whose
lease expired starts again on the next worker (or fails ``worker_lost``, its partial shards
deleted), one waiting longer than ``SDD_REQUEUE_AFTER_SECONDS`` since its last message is sent
again (on age alone: a duplicate is skipped by the claim).

Every worker runs one; they may overlap freely: the SQL transitions are conditional, and a
duplicated message is harmless (only one delivery can claim a job).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from domain.datasets import ingestion
from domain.datasets.stored_shards import discard_outputs
from domain.jobs import transitions
from domain.recovery import lost_ingestions, lost_jobs, worker_nodes
from service.artifact_stores import get_artifact_store
from service.broker import celery_app
from service.db.models import Job
from service.db.session import session_scope
from service.job_queue import enqueue_job
from service.settings import Settings
from worker.broker_messages import pending_job_ids
from worker.database_outage import is_outage

log = logging.getLogger(__name__)


@dataclass
class ReaperPass:
    """What one pass did, by job id."""

    requeued: list[str]
    failed: list[str]
    cancelled: list[str]
    resent: list[str]
    ingestions: lost_ingestions.ReapedIngestions = field(default_factory=lost_ingestions.ReapedIngestions)
    ingestions_resent: list[str] = field(default_factory=list)


def send_jobs(settings: Settings, job_ids: list[str], send: Callable[[str, int], None] = enqueue_job) -> list[str]:
    """Send a message for each job (on its device count's queue) and record when; stops at the
    first failed send. The ids sent."""
    sent: list[str] = []
    if not job_ids:
        return sent
    with session_scope(settings) as session:
        devices = {
            job_id: count for job_id, count in session.execute(select(Job.id, Job.devices).where(Job.id.in_(job_ids)))
        }
    try:
        for job_id in job_ids:
            send(job_id, devices.get(job_id, 1))
            sent.append(job_id)
    except Exception as exc:  # a broker that is down now is tried again at the next pass
        log.warning("could not send %d job(s) to the broker: %s; trying again later", len(job_ids) - len(sent), exc)
    if sent:
        with session_scope(settings) as session:
            transitions.mark_enqueued(session, sent)
    return sent


def reap_and_reconcile(
    settings: Settings, send: Callable[[str, int], None] = enqueue_job, *, reap: bool = True
) -> ReaperPass:
    """One pass of the reaper: this worker alive (``say_alive``), expired leases (unless ``reap`` is
    False), then queued jobs the broker may have lost."""
    say_alive(settings)
    reaped = lost_jobs.Reaped()
    if reap:
        with session_scope(settings) as session:
            reaped = lost_jobs.reap_expired(session, max_attempts=settings.job_max_attempts)
    for job_id in reaped.requeued:
        log.warning("job %s: lease expired (worker lost); re-queued to resume from its newest checkpoint", job_id)
    for job_id in reaped.failed:
        log.error("job %s: failed worker_lost: lost its worker %d times", job_id, settings.job_max_attempts)
    for job_id in reaped.cancelled:
        log.warning("job %s: lease expired while cancelling; cancelled", job_id)
    for job_id in reaped.pruned:
        log.warning("job %s: lease expired after its search's rung pruned it; pruned", job_id)
    send_jobs(settings, reaped.requeued, send)

    with session_scope(settings) as session:
        stale = lost_jobs.jobs_to_enqueue(session, settings.requeue_after_seconds)
    resent: list[str] = []
    if stale:
        pending = pending_job_ids(celery_app) or set()
        # Read again after the broker: a message a worker took meanwhile is in neither list for a
        # moment (Redis pops it, then files it as unacked), but its job is no longer stale here.
        with session_scope(settings) as session:
            stale = [
                job_id
                for job_id in lost_jobs.jobs_to_enqueue(session, settings.requeue_after_seconds)
                if job_id in set(stale)
            ]
        waiting = [job_id for job_id in stale if job_id in pending]
        if waiting:  # their message is still in the broker: look again after requeue_after
            with session_scope(settings) as session:
                transitions.mark_enqueued(session, waiting)
        resent = send_jobs(settings, [job_id for job_id in stale if job_id not in pending], send)
        if resent:
            log.warning(
                "re-sent %d job(s) queued in the database but missing from the broker: %s",
                len(resent),
                ", ".join(resent),
            )
    ingestions, ingestions_resent = reap_ingestions(settings, reap=reap)
    return ReaperPass(reaped.requeued, reaped.failed, reaped.cancelled, resent, ingestions, ingestions_resent)


def reap_ingestions(
    settings: Settings, send: Callable[[Settings, str], bool] = ingestion.send_ingestion, *, reap: bool = True
) -> tuple[lost_ingestions.ReapedIngestions, list[str]]:
    """Ingestions whose lease expired (unless ``reap`` is False): re-sent, or failed with their
    shards deleted; then waiting ingestions whose message may be lost: re-sent. (reaped, re-sent)."""
    reaped = lost_ingestions.ReapedIngestions()
    if reap:
        with session_scope(settings) as session:
            reaped = lost_ingestions.reap_expired(session, max_attempts=settings.job_max_attempts)
    if reaped.failed:
        store = get_artifact_store(settings)
        try:
            for dataset_id in reaped.failed:
                log.error("dataset %s: ingestion failed worker_lost: lost its worker %d times", dataset_id,
                          settings.job_max_attempts)  # fmt: skip
                discard_outputs(store, dataset_id)
        finally:
            store.close()
    send_ingestions(settings, reaped.requeued, send)
    with session_scope(settings) as session:
        stale = lost_ingestions.ingestions_to_enqueue(session, settings.requeue_after_seconds)
    resent = send_ingestions(settings, stale, send)
    if resent:
        log.warning("re-sent %d waiting ingestion(s) whose message may be lost: %s", len(resent), ", ".join(resent))
    return reaped, resent


def waiting_ingestions(settings: Settings) -> list[str]:
    """Ingestions waiting for a worker, oldest first (sent again when a worker starts)."""
    with session_scope(settings) as session:
        return lost_ingestions.ingestions_to_enqueue(session, requeue_after=0)


def send_ingestions(
    settings: Settings, dataset_ids: list[str], send: Callable[[Settings, str], bool] = ingestion.send_ingestion
) -> list[str]:
    """Send a message for each ingestion and record when; stops at the first failed send. The ids sent."""
    sent: list[str] = []
    for dataset_id in dataset_ids:
        if not send(settings, dataset_id):
            break
        sent.append(dataset_id)
    if sent:
        with session_scope(settings) as session:
            ingestion.mark_enqueued(session, sent)
    return sent


def worker_name() -> str:
    """This worker's name in ``worker_nodes``: host and main process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def say_alive(settings: Settings) -> None:
    """Record this worker as alive, and note the queued jobs on N devices that no live worker serves."""
    with session_scope(settings) as session:
        worker_nodes.record_worker(session, worker_name(), settings.worker_devices)
        # only the queued jobs on N > 1 devices: the (status, devices) index, no spec read
        waiting = session.scalars(select(Job).where(Job.status == "queued", Job.devices > 1)).all()
        for job_id in worker_nodes.note_unserved(session, waiting, settings.worker_alive_seconds):
            log.warning("job %s: no live worker serves its device count; it stays queued", job_id)


class Reaper:
    """The background thread running ``reap_and_reconcile`` until ``stop()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._reap_from = 0.0  # monotonic time from which expired leases are reaped again
        self._thread = threading.Thread(target=self._run, name="sdd-reaper", daemon=True)

    def start(self) -> Reaper:
        self._thread.start()
        log.info(
            "reaper started: every %.1fs (lease %ds, %d attempts, re-send after %ds)",
            self.settings.reaper_interval,
            self.settings.job_lease_seconds,
            self.settings.job_max_attempts,
            self.settings.requeue_after_seconds,
        )
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.reaper_interval):
            self.run_pass()

    def run_pass(self, now: Callable[[], float] = time.monotonic) -> ReaperPass | None:
        """One pass; after a pass that could not reach the database, a lease's worth of passes only
        re-send messages: leases that ran out while nobody could renew them are not a lost worker's
        (the heartbeats renew within a second of the database answering again)."""
        try:
            result = reap_and_reconcile(self.settings, reap=now() >= self._reap_from)
        except Exception as exc:  # the database may be down for a while; the next pass tries again
            if is_outage(exc):
                self._reap_from = float("inf")  # set for real by the first pass that reaches the database
            log.warning("reaper pass failed; trying again in %.1fs", self.settings.reaper_interval, exc_info=True)
            return None
        if self._reap_from == float("inf"):
            self._reap_from = now() + self.settings.job_lease_seconds
            log.info("the database answers again; reaping expired leases from %ds on", self.settings.job_lease_seconds)
        return result
