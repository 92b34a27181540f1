"""The Celery app, configured from the service's one ``Settings`` object (senders and workers alike).

The SQL database is the record of every job; Celery only carries "run job X" messages. So there
is no result backend, a message is acknowledged only after its job has finished (``acks_late``),
and a message delivered twice is harmless because ``domain.jobs.transitions.claim`` lets exactly
one delivery train.

Brokers:

* ``filesystem://`` (the embedded default): kombu's file transport, one file per message under
  ``$SDD_HOME/broker``. API and worker must share that folder (same machine or shared volume).
* ``redis://`` (production): ``visibility_timeout`` is how long Redis waits for the ack of a
  delivered message before handing it to another worker. With ``acks_late`` it must exceed the
  longest job, or a job still training would be redelivered (harmlessly: its claim fails). Jobs
  of crashed workers do not wait for it: their lease expires and a worker's reaper re-queues
  them and sends a fresh message (``worker.reaper``), which also re-sends jobs a Redis restarted
  empty has lost. A worker keeps reconnecting to a broker that went away, however long it takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery
from kombu import Queue, pools

from service.settings import Settings, get_settings

RUN_JOB_TASK = "sdd.run_job"
INGEST_DATASET_TASK = "sdd.ingest_dataset"  # on settings.ingestion_queue
MAX_DEVICES = 8  # the most devices one job may ask for (``JobRequest.devices``)


def queue_for(base: str, devices: int = 1) -> str:
    """The queue of jobs that need ``devices`` devices of one node: ``base`` (``SDD_QUEUE_NAME``)
    for one, ``<base>-devices-N`` for N, served only by workers started with ``sdd worker --devices N``."""
    return base if devices == 1 else f"{base}-devices-{devices}"


def all_queues(base: str) -> list[str]:
    """Every queue a job may be sent to: one per device count."""
    return [queue_for(base, devices) for devices in range(1, MAX_DEVICES + 1)]


REDIS_VISIBILITY_TIMEOUT_S = 7 * 24 * 3600  # must exceed the longest job, see the module docstring


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    """Transport options for the configured broker."""
    if settings.broker_is_filesystem:
        queue_dir = str(settings.broker_dir / "queue")
        return {
            "data_folder_in": queue_dir,
            "data_folder_out": queue_dir,
            "processed_folder": str(settings.broker_dir / "processed"),
            "store_processed": False,
            # exchange bindings; kombu's default is a folder relative to the working directory
            "control_folder": str(settings.broker_dir / "control"),
        }
    if settings.broker_url.startswith(("redis://", "rediss://")):
        # a dead Redis fails a send (and so the API request) within seconds instead of hanging
        return {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT_S, "socket_connect_timeout": 5}
    return {}


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting the service uses, derived from ``settings``."""
    queue = settings.queue_name
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": broker_transport_options(settings),
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,  # a Redis restart must not end the worker
        # Queues are declared, never created on the fly from a typo.
        "task_queues": [Queue(name, routing_key=name) for name in (*all_queues(queue), settings.ingestion_queue)],
        "task_default_queue": queue,
        "task_default_routing_key": queue,
        "task_routes": {
            RUN_JOB_TASK: {"queue": queue, "routing_key": queue},
            INGEST_DATASET_TASK: {"queue": settings.ingestion_queue, "routing_key": settings.ingestion_queue},
        },
        "task_create_missing_queues": False,
        # Ack after the job finished; a lost worker's message goes back to the queue.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A worker reserves one job at a time, so a second worker can take the next one.
        "worker_prefetch_multiplier": 1,
        # A fresh pool process per job releases all GPU and host memory of the previous one.
        "worker_max_tasks_per_child": 1,
        # A short broker outage must not abort hours of training: the job keeps running and a
        # redelivered message is skipped by the atomic claim.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # The SQL database is the record of every job.
        "task_ignore_result": True,
        "result_backend": None,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        # The file broker keeps one file per message per bound queue: remote control (pidbox
        # broadcasts to every worker that ever started) would leave files behind forever.
        "worker_enable_remote_control": not settings.broker_is_filesystem,
        "worker_concurrency": settings.worker_concurrency,
        # The worker process owns its logging: Celery's root handler, one format for all loggers.
        "worker_log_format": "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
        "worker_task_log_format": "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
        "worker_redirect_stdouts_level": "INFO",
        "timezone": "UTC",
        "enable_utc": True,
    }


def configure(app: Celery, settings: Settings) -> Celery:
    """(Re)configure ``app`` from ``settings``; drops connections made under older settings."""
    app.conf.update(celery_config(settings))
    # Connection and producer pools, queue and route caches were built from the old settings.
    # kombu keeps pools in a process-wide registry keyed by connection; clear it so a later
    # configure() with the same URL does not get back a pool that was closed.
    if app._pool is not None:
        pools.reset()
        app._pool = None
    app.__dict__.pop("amqp", None)
    return app


def ensure_broker_folders(app: Celery) -> None:
    """Create the file broker's folders (no-op for other brokers). Cheap enough to call per send."""
    if not str(app.conf.broker_url).startswith("filesystem://"):
        return
    options = app.conf.broker_transport_options
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        Path(options[key]).mkdir(parents=True, exist_ok=True)


# One app for both sides: the API and the reaper send with it, ``sdd worker`` runs it. The task
# module is named, not imported: a worker process loads it at start, a sender never does.
celery_app = Celery("sdd", include=["worker.tasks"], set_as_current=True)
configure(celery_app, get_settings())
