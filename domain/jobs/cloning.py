"""A copy of a job: the request that would submit it again, for the dashboard's "Clone" form.

The copy asks for what the source's submitter asked for (``Job.request``: its fields as sent, no
default filled in), its metadata and tags, not its name (a copy's name is its own). What the
source left to the service is left to it again, so a copy that changes its dataset, method,
student or epochs gets that dataset's image size and the defaults that fit it; the values the
source chose are kept. ``sdd jobs submit --from JOB`` starts from the same request (the job's
``request`` in ``GET /v1/jobs/{id}``). The scales and beta that a job of a method other than the
scale-decoupled ones was submitted with before they were refused never shaped it; its copy leaves
them out (a submission would refuse them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from domain.jobs import job_reads
from sdd_core.spec import SD_METHODS, SD_ONLY_FIELDS
from service.db.models import Job


@dataclass(frozen=True)
class JobCopy:
    """The source job and the request body of its copy (``POST /v1/jobs``'s shape, no name)."""

    source: Job
    request: dict[str, Any]


def copy_of_job(session: Session, tenant_id: str, job_id: str) -> JobCopy:
    """The request that submits a copy of the tenant's job ``job_id``; ``NotFound`` for another's or none."""
    job = job_reads.get_job(session, tenant_id, job_id)
    request = dict(job.request)
    if request.get("method") not in SD_METHODS:
        request = {key: value for key, value in request.items() if key not in SD_ONLY_FIELDS}
    if job.metadata_:
        request["metadata"] = dict(job.metadata_)
    if job.tags:
        request["tags"] = list(job.tags)
    return JobCopy(source=job, request=request)
