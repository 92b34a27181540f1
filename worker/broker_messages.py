"""Which jobs have a "run job X" message waiting in the broker right now (for the reconciler).

The reconciler re-sends a job that stays ``queued`` in SQL long after its last message. If the
message is still there (all workers busy, a long queue) a re-send only adds a duplicate; so where
the broker can be read cheaply, this module lists the job ids its messages carry:

* Redis (kombu's transport): the queue's lists (one per priority step) and the ``unacked`` hash
  (messages delivered to a worker and not yet acknowledged);
* the file broker: the message files in its queue folder.

Other brokers return None ("cannot tell"), and the reconciler re-sends on age alone.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from service.broker import RUN_JOB_TASK, all_queues

log = logging.getLogger(__name__)

REDIS_PRIORITY_SEPARATOR = "\x06\x16"  # kombu.transport.redis.Channel.sep
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)  # kombu's default priority_steps
REDIS_UNACKED_KEY = "unacked"


def job_id_of(message: dict[str, Any]) -> str | None:
    """The job id a raw kombu message (protocol 2) of ``sdd.run_job`` carries, else None."""
    if (message.get("headers") or {}).get("task") != RUN_JOB_TASK:
        return None
    body = message.get("body")
    if (message.get("properties") or {}).get("body_encoding") == "base64" and isinstance(body, str):
        body = base64.b64decode(body)
    if not isinstance(body, str | bytes):
        return None
    try:
        args = json.loads(body)[0]
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return str(args[0]) if args else None


def pending_job_ids(app: Celery) -> set[str] | None:
    """Job ids with a message in ``app``'s broker (queued or delivered, not acked); None if unknown."""
    url = str(app.conf.broker_url)
    queues = all_queues(app.conf.task_default_queue)
    try:
        if url.startswith(("redis://", "rediss://")):
            return _redis_pending(url, queues)
        if url.startswith("filesystem://"):
            folder = Path(app.conf.broker_transport_options["data_folder_in"])
            return set().union(*(_file_pending(folder, queue) for queue in queues))
    except (redis.RedisError, OSError) as exc:
        log.warning("could not list the broker's messages: %s", exc)
    return None


def _redis_pending(url: str, queues: list[str]) -> set[str]:
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    try:
        keys = [
            queue if step == 0 else f"{queue}{REDIS_PRIORITY_SEPARATOR}{step}"
            for queue in queues
            for step in REDIS_PRIORITY_STEPS
        ]
        raw: list[bytes | str] = [item for key in keys for item in client.lrange(key, 0, -1)]
        delivered = [json.loads(value)[0] for value in client.hvals(REDIS_UNACKED_KEY)]
    finally:
        client.close()
    messages = [json.loads(item) for item in raw] + delivered
    return {job_id for job_id in map(job_id_of, messages) if job_id}


def _file_pending(folder: Path, queue: str) -> set[str]:
    found: set[str] = set()
    for path in folder.glob(f"*.{queue}.msg"):
        try:
            job_id = job_id_of(json.loads(path.read_bytes()))
        except (FileNotFoundError, ValueError):  # consumed meanwhile, or still being written
            continue
        if job_id:
            found.add(job_id)
    return found
