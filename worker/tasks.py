"""The Celery task that runs a job, and the worker's start-up and shutdown hooks.

The task is thin: everything it does is ``worker.runner.run_job``, with SIGTERM turned into a
"stop at the next batch" request while it runs in a pool child (``worker.shutdown``), and the
pool child allowed to start the job's loader processes (``worker.pool_child``).

When the worker is ready it re-enqueues every job still ``queued`` in SQL, the source of truth
(a message lost with a broker, or never sent because the API crashed after its commit, does not
strand a job; the duplicates this makes are skipped by the atomic claim), and starts its reaper
(``worker.reaper``): expired leases and messages the broker lost, every few seconds.

The ingestion task, ``sdd.ingest_dataset``, lives in ``worker.ingestion``; importing it here
registers it with every worker. Ingestions still waiting in SQL are sent again at start as well.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Task
from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown
from sqlalchemy import select

from service.broker import RUN_JOB_TASK, celery_app, ensure_broker_folders
from service.db.models import Job
from service.db.session import get_engine, session_scope
from service.settings import get_settings
from worker import metrics as worker_metrics
from worker.ingestion import ingest_dataset_task
from worker.pool_child import may_start_processes
from worker.reaper import Reaper, say_alive, send_ingestions, send_jobs, waiting_ingestions
from worker.runner import run_job
from worker.shutdown import refuse_while_shutting_down, stop_signal_sets_flag

log = logging.getLogger(__name__)

_reaper: list[Reaper] = []  # this process's reaper, once started
__all__ = ["ingest_dataset_task", "run_job_task"]


@celery_app.task(name=RUN_JOB_TASK, bind=True, acks_late=True, ignore_result=True)
def run_job_task(self: Task, job_id: str) -> str:
    """Run job ``job_id`` (claim, train, record); its status lives in SQL, not in Celery."""
    with stop_signal_sets_flag(), may_start_processes():
        log.info(
            "job %s: delivered (message %s, redelivered=%s)",
            job_id,
            self.request.id,
            bool((self.request.delivery_info or {}).get("redelivered")),
        )
        refuse_while_shutting_down(f"job {job_id}")
        return run_job(job_id)


@worker_init.connect
def _prepare_folders(**_: Any) -> None:
    """Create SDD_HOME's folders (and the file broker's) before the consumer starts."""
    get_settings().ensure_dirs()
    ensure_broker_folders(celery_app)


@worker_process_init.connect
def _forget_inherited_connections(**_: Any) -> None:
    """A forked pool process must not use (nor close) the parent's pooled database connections."""
    get_engine(get_settings()).dispose(close=False)


@worker_ready.connect
def requeue_queued_jobs(**_: Any) -> None:
    """Send a message for every job still ``queued`` in SQL (oldest first), then start the reaper."""
    settings = get_settings()
    try:
        say_alive(settings)
        with session_scope(settings) as session:
            job_ids = list(session.scalars(select(Job.id).where(Job.status == "queued").order_by(Job.created_at)))
        sent = send_jobs(settings, job_ids)
        ingestions = send_ingestions(settings, waiting_ingestions(settings))
    except Exception:  # the worker still serves new messages; say loudly what did not happen
        log.exception("could not re-enqueue the jobs and ingestions still waiting in the database")
        sent, ingestions = [], []
    if ingestions:
        log.info("re-enqueued %d waiting ingestion(s)", len(ingestions))
    log.info("worker ready; re-enqueued %d queued job(s)", len(sent))
    if not _reaper:
        _reaper.append(Reaper(settings).start())
    if worker_metrics.enabled():
        worker_metrics.worker_started(settings.worker_devices)
        worker_metrics.serve(settings.worker_metrics_host, settings.worker_metrics_port)


@worker_process_shutdown.connect
def _forget_pool_process(pid: int | None = None, **_: Any) -> None:
    """A pool process that exits takes its live gauges (jobs running, images/s) with it."""
    worker_metrics.forget_process(pid or os.getpid())


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    for reaper in _reaper:
        reaper.stop()
    worker_metrics.remove_folder()
