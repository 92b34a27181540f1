"""Turn a job's stored REST spec into a ``sdd_core.spec.JobSpec`` the trainer can run.

Over HTTP a job names things by id; the trainer wants files on this machine:

* ``dataset``: a built-in name stays as it is; an uploaded dataset ``ds_…`` of the job's tenant
  becomes ``imagefolder:<its folder in the artifact store>``.
* ``teacher``: ``null``; ``{"job": id}`` — the student of a succeeded job of the same tenant,
  with that job's student architecture; ``{"model": id}`` — uploaded weights with their ``arch``.

Everything else that ``DistillationSettings`` does not know (``metadata`` and other REST-only keys)
is dropped. Another tenant's objects are reported exactly like missing ones.
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from sdd_core.errors import DataError, SpecError, TeacherError
from sdd_core.spec import DistillationSettings, JobSpec
from service.artifacts import dataset_key, job_student_key, model_weights_key
from service.db.models import Dataset, Job, UploadedModel

UPLOADED_DATASET_PREFIX = "ds_"


def resolve_job_spec(session: Session, job: Job, store: Any) -> JobSpec:
    """The trainable spec of ``job``; raises ``SDDError`` subclasses users can act on."""
    rest = dict(job.spec)
    fields = {name: rest[name] for name in DistillationSettings.model_fields if name in rest}
    fields["dataset"] = resolve_dataset(session, job.tenant_id, rest.get("dataset"), store)
    teacher = resolve_teacher(session, job.tenant_id, rest.get("teacher"), store)
    if teacher is not None:
        fields["teacher"] = teacher
    try:
        return JobSpec.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "spec"
        raise SpecError(field, first["msg"]) from exc


def resolve_dataset(session: Session, tenant_id: str, dataset: Any, store: Any) -> str:
    """A built-in dataset name, or ``imagefolder:<path>`` for the tenant's uploaded dataset."""
    if not isinstance(dataset, str) or not dataset:
        raise SpecError("dataset", "must name a built-in dataset or an uploaded dataset id")
    if dataset.startswith("imagefolder:"):
        # Server paths never come over HTTP: a user could read any folder the worker can.
        raise SpecError("dataset", "server paths are not accepted; upload the dataset and use its id")
    if not dataset.startswith(UPLOADED_DATASET_PREFIX):
        return dataset
    found = session.scalar(select(Dataset.id).where(Dataset.id == dataset, Dataset.tenant_id == tenant_id))
    if found is None:
        raise DataError(f"dataset {dataset} not found (was it deleted?)")
    folder = store.path(dataset_key(dataset))
    if not folder.is_dir():
        raise DataError(f"the files of dataset {dataset} are missing from the artifact store")
    return f"imagefolder:{folder}"


def resolve_teacher(session: Session, tenant_id: str, teacher: Any, store: Any) -> dict[str, str] | None:
    """Teacher fields (arch, weights file) for ``{"job": id}`` / ``{"model": id}``; None if none."""
    if teacher is None:
        return None
    if isinstance(teacher, dict) and set(teacher) == {"job"}:
        return _teacher_from_job(session, tenant_id, str(teacher["job"]), store)
    if isinstance(teacher, dict) and set(teacher) == {"model"}:
        return _teacher_from_model(session, tenant_id, str(teacher["model"]), store)
    raise SpecError("teacher", 'must be null, {"job": "<job id>"} or {"model": "<model id>"}')


def _teacher_from_job(session: Session, tenant_id: str, job_id: str, store: Any) -> dict[str, str]:
    row = session.scalar(select(Job).where(Job.id == job_id, Job.tenant_id == tenant_id))
    if row is None:
        raise TeacherError(f"teacher job {job_id} not found")
    if row.status != "succeeded":
        raise TeacherError(f"teacher job {job_id} is {row.status}; only a succeeded job's student can teach")
    path = store.path(job_student_key(job_id))
    if not path.is_file():
        raise TeacherError(f"the student weights of teacher job {job_id} are missing from the artifact store")
    return {"arch": row.spec["student"], "checkpoint": str(path)}


def _teacher_from_model(session: Session, tenant_id: str, model_id: str, store: Any) -> dict[str, str]:
    row = session.scalar(
        select(UploadedModel).where(UploadedModel.id == model_id, UploadedModel.tenant_id == tenant_id)
    )
    if row is None:
        raise TeacherError(f"teacher model {model_id} not found")
    path = store.path(model_weights_key(model_id))
    if not path.is_file():
        raise TeacherError(f"the weights of teacher model {model_id} are missing from the artifact store")
    return {"arch": row.arch, "checkpoint": str(path)}
