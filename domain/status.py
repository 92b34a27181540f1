"""Where a job stands, for the domain's rules: ``JobStatus`` and its sets (terminal, active, in
flight, cancellable).

They are defined once in ``sdd_client.job_status``, the package both the server and the client
install, and named here so that the domain's modules import them from the domain.
"""

from __future__ import annotations

from sdd_client.job_status import ACTIVE, CANCELLABLE, IN_FLIGHT, JOB_STATUSES, TERMINAL, JobStatus

__all__ = ["ACTIVE", "CANCELLABLE", "IN_FLIGHT", "JOB_STATUSES", "TERMINAL", "JobStatus"]
