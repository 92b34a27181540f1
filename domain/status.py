"""Where a job stands, for the domain's rules: ``JobStatus`` and its sets (terminal, active, in
flight, cancellable); and where a dataset stands: ``DatasetStatus``.

The job's are defined once in ``sdd_client.job_status``, the package both the server and the
client install, and named here so that the domain's modules import them from the domain.

    dataset: ingesting -> ready | failed      (a failed ingestion may be started again)
"""

from __future__ import annotations

from enum import StrEnum

from sdd_client.job_status import ACTIVE, CANCELLABLE, IN_FLIGHT, JOB_STATUSES, TERMINAL, JobStatus


class DatasetStatus(StrEnum):
    INGESTING = "ingesting"
    READY = "ready"
    FAILED = "failed"


__all__ = ["ACTIVE", "CANCELLABLE", "IN_FLIGHT", "JOB_STATUSES", "TERMINAL", "DatasetStatus", "JobStatus"]
