"""A worker's warm shutdown reaches the job it trains: the job stops at its next batch and is re-queued.

Celery's answer to SIGTERM is a *warm shutdown*: stop taking messages, wait for running tasks to
end. A training job can run for hours, longer than any process manager waits before SIGKILL, so
the job has to be told. How SIGTERM reaches it depends on the pool:

* ``solo`` / ``threads``: the job runs in the worker's main process, where Celery's SIGTERM
  handler sends the ``worker_shutting_down`` signal; our receiver sets the flag below, which the
  job's ``should_stop`` reads after every batch.
* ``prefork`` (production): the job runs in a pool child. Celery's main process does not signal
  its children on a warm shutdown, and in a child billiard turns SIGTERM into ``SystemExit``
  (and ``REMAP_SIGTERM`` only changes which signal means what). So the main process forwards
  SIGTERM to each child that runs an ``sdd.run_job`` or an ``sdd.ingest_dataset``
  (``state.active_requests``, whose ``worker_pid`` is the child), and a child running a job or
  an ingestion (``stop_signal_sets_flag``) handles
  SIGTERM by setting the flag; one that comes again later exits as billiard would. Process managers
  that signal the whole process group (systemd, Ctrl-C in a shell) reach the child directly;
  the same handler applies.

What the job then does is ``worker.runner``'s business: store the checkpoint the trainer writes at
that batch, go back to ``queued`` without counting the attempt, send a fresh message; the next
attempt continues after that batch.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from billiard.process import current_process
from celery.exceptions import Reject
from celery.signals import worker_shutting_down
from celery.worker import state

from service.broker import INGEST_DATASET_TASK, RUN_JOB_TASK

log = logging.getLogger(__name__)

# The forwarded SIGTERM and the process manager's own (sent to the whole group) are one request.
SAME_REQUEST_S = 2.0

_requested = threading.Event()


def shutdown_requested() -> bool:
    """Has this process been asked to stop (a warm shutdown, or SIGTERM to a pool child)?"""
    return _requested.is_set()


def request_shutdown() -> None:
    _requested.set()


def clear_shutdown_request() -> None:
    """Forget a request (tests; an in-process runner that outlives one)."""
    _requested.clear()


@worker_shutting_down.connect
def _on_worker_shutting_down(**_: Any) -> None:
    """In the worker's main process, inside Celery's signal handler: tell the running jobs."""
    request_shutdown()
    for request in list(state.active_requests):
        pid = request.worker_pid
        if request.name in (RUN_JOB_TASK, INGEST_DATASET_TASK) and pid and pid != os.getpid():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:  # the child just finished
                pass


@contextmanager
def stop_signal_sets_flag() -> Iterator[None]:
    """In a pool child, while the block runs, the first SIGTERM sets the flag instead of exiting.

    A no-op in the worker's main process (solo and threads pools: Celery owns SIGTERM there) and
    outside the main thread (where signal handlers cannot be set).
    """
    if current_process()._name == "MainProcess" or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    first: list[float] = []

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # no logging here: a signal handler must not take the logging lock
        if first and time.monotonic() - first[0] > SAME_REQUEST_S:  # asked again: exit as billiard would
            if callable(previous):
                previous(signum, frame)
            raise SystemExit(128 + signum)
        first[:] = first or [time.monotonic()]
        _requested.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def refuse_while_shutting_down(what: str) -> None:
    """Give a delivery back to the broker (``Reject``, requeued) when this process is already
    shutting down: a pool child forked during a warm shutdown inherits the flag, and Celery may
    still hand it a message received after the shutdown began (the fresh message of a job or an
    ingestion just given back, say). Claiming it would start an attempt that the pool's end kills,
    and the lease's expiry would count it."""
    if shutdown_requested():
        log.info("%s: delivered while this worker shuts down; message given back to the broker", what)
        raise Reject("the worker is shutting down", requeue=True)
