"""A copy of a job: the request that would submit it again, for the dashboard's "Clone" form.

The same rules as ``sdd jobs submit --from JOB`` (``sdd_client.submit_flags.clone_body``): the
copy asks for the source's spec, metadata and tags, not its name (a copy's name is its own). The
stored spec has every default filled in, so what the source left to the service is left out again
and follows the copy's own choices: a hyper-parameter equal to the default the service gave the
source (for its method, student, teacher and epochs, the schedule fitted to the epochs), the
epochs when they are the recipe's, and the image size when it is the dataset's own. A copy that
changes its dataset, student or epochs then gets that dataset's image size and the defaults that
fit it; the values the source chose are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from domain.errors import DomainError
from domain.jobs import job_reads
from domain.jobs.job_request import JobRequest
from domain.jobs.references import dataset_facts, teacher_job, teacher_model
from sdd_core.spec import Hyperparameters, method_defaults, resolve_hyperparameters
from service.db.models import Job
from service.settings import Settings

# What a request takes from a stored spec (the others are the job's own columns).
SPEC_FIELDS = tuple(name for name in JobRequest.model_fields if name not in ("metadata", "name", "tags"))


@dataclass(frozen=True)
class JobCopy:
    """The source job and the request body of its copy (``POST /v1/jobs``'s shape, no name)."""

    source: Job
    request: dict[str, Any]


def copy_of_job(session: Session, settings: Settings, tenant_id: str, job_id: str) -> JobCopy:
    """The request that submits a copy of the tenant's job ``job_id``; ``NotFound`` for another's or none."""
    job = job_reads.get_job(session, tenant_id, job_id)
    spec = job.spec
    request: dict[str, Any] = {key: spec[key] for key in SPEC_FIELDS if spec.get(key) is not None}
    if request.get("image_size") == _natural_image_size(session, settings, tenant_id, spec["dataset"]):
        del request["image_size"]  # the dataset's own size: a copy on another dataset gets that one's
    hyper = {key: value for key, value in (spec.get("hyperparameters") or {}).items() if value is not None}
    given_by_service = _defaults_given(spec, hyper.get("epochs"), _teacher_arch(session, tenant_id, spec))
    request["hyperparameters"] = {key: value for key, value in hyper.items() if given_by_service.get(key) != value}
    if job.metadata_:
        request["metadata"] = dict(job.metadata_)
    if job.tags:
        request["tags"] = list(job.tags)
    return JobCopy(source=job, request=request)


def _defaults_given(spec: dict[str, Any], epochs: int | None, teacher_arch: str | None) -> dict[str, Any]:
    """The hyper-parameters the service fills in for this spec's method, pair and epochs; the
    epochs themselves against the recipe's (so a copy of a 20-epoch run asks for 20)."""
    fitted = resolve_hyperparameters(spec["method"], spec["student"], teacher_arch, Hyperparameters(epochs=epochs))
    recipe_epochs = method_defaults(spec["method"], spec["student"], teacher_arch)["epochs"]
    return fitted.model_dump(exclude_none=True) | {"epochs": recipe_epochs}


def _teacher_arch(session: Session, tenant_id: str, spec: dict[str, Any]) -> str | None:
    """The source teacher's architecture (its pair's defaults depend on it); None if it cannot be told."""
    teacher = spec.get("teacher") or {}
    try:
        if teacher.get("model"):
            return teacher_model(session, tenant_id, str(teacher["model"])).arch
        if teacher.get("job"):
            return str(teacher_job(session, tenant_id, str(teacher["job"])).spec["student"])
    except DomainError:
        return None  # gone meanwhile: the copy's submission says so; its defaults are the recipe's
    arch = teacher.get("arch")  # a teacher named by its architecture (pretrained weights)
    return str(arch) if arch else None


def _natural_image_size(session: Session, settings: Settings, tenant_id: str, dataset: str) -> int | None:
    """The image size the dataset trains at when a job gives none; None when it cannot be told now."""
    try:
        return dataset_facts(session, settings, tenant_id, dataset, None).image_size
    except DomainError:
        return None
