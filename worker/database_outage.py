"""Riding out a database that goes away for a while (a restart, a failover behind the same URL).

The database is the record of every job, so an attempt that cannot write does not guess: the
write waits. ``through_outage`` retries an action whose connection failed (``OperationalError``
and friends: connection refused or lost, a pool timeout) with a growing pause, for at most
``settings.database_outage_seconds``; training waits at that point (an epoch's metrics, a
checkpoint, the outcome) and goes on once the database answers. An outage longer than that
raises: the attempt ends, its lease expires, and once the database is back the job resumes from
its newest stored checkpoint. Errors that are not about reaching the database raise at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from service.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_PAUSE_S = 0.5
LONGEST_PAUSE_S = 5.0


def is_outage(exc: BaseException) -> bool:
    """True for an error that says the database could not be reached, not that a statement was wrong."""
    if isinstance(exc, (OperationalError, PoolTimeoutError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def through_outage(
    settings: Settings, what: str, action: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep
) -> T:
    """``action()``, retried while the database is unreachable, for up to ``database_outage_seconds``."""
    deadline = time.monotonic() + settings.database_outage_seconds
    pause = FIRST_PAUSE_S
    failures = 0
    while True:
        try:
            result = action()
        except Exception as exc:
            if not is_outage(exc) or time.monotonic() + pause > deadline:
                raise
            failures += 1
            if failures == 1 or failures % 10 == 0:
                reason = getattr(exc, "orig", None) or exc
                log.warning(
                    "%s: the database is unreachable (%s); retrying for up to %ds",
                    what,
                    reason,
                    settings.database_outage_seconds,
                )
            sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_S)
            continue
        if failures:
            log.info("%s: the database answers again after %d failed tries", what, failures)
        return result
