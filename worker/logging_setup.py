"""A worker's log lines: the service's format (``service.logs``) instead of Celery's, and levels that mean it.

Celery configures logging itself when a worker starts unless a receiver of its ``setup_logging``
signal does: ours applies ``SDD_LOG_FORMAT`` (text or JSON lines with job and tenant ids) at the
``--log-level`` given, in the main process; prefork pool children inherit it.

A warm shutdown (SIGTERM to the worker, or to its process group as ``sdd up``, systemd and
Ctrl-C do) ends idle pool children by that signal, and billiard reports each at ERROR
(``Process 'ForkPoolWorker-1' pid:… exited with 'signal 15 (SIGTERM)'``): a normal stop would page
whoever alerts on errors. Once a shutdown was requested those lines are INFO; a child killed by
any other signal, or by SIGTERM while the worker runs on, stays an ERROR.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from celery.signals import setup_logging

from service.logs import configure_logging
from service.settings import get_settings
from worker.shutdown import shutdown_requested

# billiard's pool supervisor logs under "multiprocessing" (billiard.util.LOGGER_NAME)
POOL_LOGGER = "multiprocessing"
_TERMINATED_BY_SIGTERM = re.compile(r"exited with 'signal 15 \(SIGTERM\)'")


class ShutdownExitsAreInfo(logging.Filter):
    """During a requested shutdown, a pool child's end by SIGTERM is logged at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and shutdown_requested():
            if _TERMINATED_BY_SIGTERM.search(record.getMessage()):
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def install_shutdown_filter() -> None:
    pool = logging.getLogger(POOL_LOGGER)
    if not any(isinstance(existing, ShutdownExitsAreInfo) for existing in pool.filters):
        pool.addFilter(ShutdownExitsAreInfo())


@setup_logging.connect
def _configure(loglevel: Any = None, **_: Any) -> None:
    """Celery's hook: connected, Celery leaves the root logger to us."""
    configure_logging(get_settings().log_format, loglevel or logging.INFO)
    install_shutdown_filter()
