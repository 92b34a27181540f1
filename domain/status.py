"""Where a job stands: one ``JobStatus`` enum and the sets of statuses the rules speak of.

    queued -> running -> succeeded | failed | cancelling -> cancelled
    queued -> cancelled
    running -> queued          (a worker shutting down, or a lease that expired)

``JobStatus`` is a ``StrEnum``: a member equals its value, so rows (which store the plain
string) compare with it directly.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


JOB_STATUSES: tuple[str, ...] = tuple(status.value for status in JobStatus)
# Never left once reached.
TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
# An attempt holds the job: a worker trains it (or is stopping it) under a lease.
ACTIVE: frozenset[JobStatus] = frozenset({JobStatus.RUNNING, JobStatus.CANCELLING})
# Counted against a tenant's jobs in flight: not finished yet.
IN_FLIGHT: frozenset[JobStatus] = frozenset(JobStatus) - TERMINAL
# A user may still cancel it (a cancelling job already is being cancelled).
CANCELLABLE: frozenset[JobStatus] = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
