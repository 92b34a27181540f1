"""A typed Python client for the sdd-jobs REST API (httpx + pydantic; no torch).

    from sdd_client import SDDClient
    sdd = SDDClient("http://127.0.0.1:8000", "sdd_…")   # or SDDClient() after `sdd login`
    job = sdd.wait(sdd.submit({"dataset": "digits", "student": "resnet8", "method": "ce"}).id)

See :class:`SDDClient` for every call, ``sdd_client.models`` for the types it returns and
``sdd_client.errors`` for what it raises.
"""

from sdd_client.client import SDDClient
from sdd_client.errors import (
    APIError,
    ChecksumMismatch,
    ConfigError,
    SDDClientError,
    ServiceUnreachable,
    WaitTimeout,
)
from sdd_client.job_status import TERMINAL as TERMINAL_STATUSES
from sdd_client.job_status import JobStatus
from sdd_client.models import Job, JobSubmission

__all__ = [
    "TERMINAL_STATUSES",
    "APIError",
    "ChecksumMismatch",
    "ConfigError",
    "Job",
    "JobStatus",
    "JobSubmission",
    "SDDClient",
    "SDDClientError",
    "ServiceUnreachable",
    "WaitTimeout",
]
