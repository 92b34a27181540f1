"""Sending jobs to the workers, and checking that the broker is there.

Imported by the API: nothing here imports torch or ``sdd_core.trainer``.
"""

from __future__ import annotations

import logging
import os

import redis
from kombu.utils.url import maybe_sanitize_url

from service.broker import INGEST_DATASET_TASK, RUN_JOB_TASK, celery_app, ensure_broker_folders, queue_for

log = logging.getLogger(__name__)


class BrokerUnavailableError(RuntimeError):
    """The message broker cannot be reached (or, for the file broker, its folders are unusable)."""


def enqueue_job(job_id: str, devices: int = 1) -> None:
    """Ask a worker to run ``job_id``. Sending twice is harmless: only one delivery can claim it.

    A job that needs N devices (``Job.devices``) goes to their queue (``service.broker.queue_for``)."""
    queue = queue_for(celery_app.conf.task_default_queue, devices)
    ensure_broker_folders(celery_app)
    celery_app.send_task(RUN_JOB_TASK, args=[job_id], queue=queue)
    log.info("job %s: enqueued on %r", job_id, queue)


def enqueue_ingestion(dataset_id: str, queue: str) -> None:
    """Ask a worker serving ``queue`` (``SDD_INGESTION_QUEUE``) to ingest ``dataset_id``; sending
    twice is harmless, as for jobs: only one delivery can claim the ingestion."""
    ensure_broker_folders(celery_app)
    celery_app.send_task(INGEST_DATASET_TASK, args=[dataset_id], queue=queue)
    log.info("dataset %s: ingestion enqueued on %r", dataset_id, queue)


def check_broker(timeout: float = 2.0) -> None:
    """Raise ``BrokerUnavailableError`` with a reason if jobs cannot be enqueued right now."""
    url = str(celery_app.conf.broker_url)
    shown = maybe_sanitize_url(url)
    if url.startswith("filesystem://"):
        try:
            ensure_broker_folders(celery_app)
        except OSError as exc:
            raise BrokerUnavailableError(f"cannot create the file broker's folders: {exc}") from exc
        options = celery_app.conf.broker_transport_options
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            folder = options[key]
            if not os.access(folder, os.W_OK | os.X_OK):
                raise BrokerUnavailableError(f"broker folder {folder!r} ({key}) is not writable")
        return
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise BrokerUnavailableError(f"cannot reach the broker at {shown}: {exc}") from exc
        finally:
            client.close()
        return
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # kombu raises transport-specific errors
        raise BrokerUnavailableError(f"cannot reach the broker at {shown}: {exc}") from exc
