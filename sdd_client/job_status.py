"""Where a job stands: the one ``JobStatus`` enum, for the server and the client, and the sets of
statuses their rules speak of.

    queued -> running -> succeeded | failed | cancelling -> cancelled
    queued -> cancelled
    running -> queued          (a worker shutting down, or a lease that expired)
    queued | running -> pruned (a search's trial that a rung left behind: ``prune_reason`` says why)

It lives in the client package, which installs without the server, so that both sides use this
one class: the server's rules (``domain.status``) and schemas, and the client's models generated
from the OpenAPI document (``sdd_client.generated_models`` names this class for the schema's
``JobStatus``). A sweep's status takes the same values, derived from its members.

``JobStatus`` is a ``StrEnum``: a member equals its value, so rows (which store the plain
string) and JSON compare with it directly.
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
    PRUNED = "pruned"


JOB_STATUSES: tuple[str, ...] = tuple(status.value for status in JobStatus)
# Never left once reached.
TERMINAL: frozenset[JobStatus] = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PRUNED}
)
# An attempt holds the job: a worker trains it (or is stopping it) under a lease.
ACTIVE: frozenset[JobStatus] = frozenset({JobStatus.RUNNING, JobStatus.CANCELLING})
# Not finished yet: the job may still change (and counts against a tenant's jobs in flight).
IN_FLIGHT: frozenset[JobStatus] = frozenset(JobStatus) - TERMINAL
# A user may still cancel it (a cancelling job already is being cancelled).
CANCELLABLE: frozenset[JobStatus] = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


def epochs_done_text(epoch: int, epochs: int, batch: int | None = None, batches: int | None = None) -> str:
    """Where a job's training stands, as every view shows it: the epochs finished, never the one in
    progress, so a job running its third of three epochs reads ``2/3 done``, not ``epoch 2/3``.

    The batch of the epoch in progress follows when known: ``2/3 done · batch 12/57``.
    """
    text = f"{epoch}/{epochs} done"
    if batch is not None and batches and epoch < epochs:
        text += f" · batch {batch}/{batches}"
    return text
