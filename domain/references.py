"""What a job's references point at: datasets and teachers, tenant-scoped, in the two forms needed.

A job names things by id (``dataset``: a built-in name or ``ds_…``; ``teacher``: ``{"job": id}``
or ``{"model": id}``). Two questions are asked of them:

* at submission and again before training, the **facts** the checks need (class count, image
  size, teacher architecture): ``dataset_facts``, ``teacher_facts``;
* before training, the **files** the trainer reads, as local paths fetched through the artifact
  store (in place for the local store; into the node's cache, checked against the SHA-256 the
  rows record, for an object store): ``dataset_source`` (``imagefolder:<folder>`` for an uploaded
  dataset) and ``teacher_checkpoint`` (a succeeded job's student, or an uploaded model's weights).

Another tenant's objects are reported exactly like missing ones.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.archives import extract_archive
from domain.datasets import EXTRACTED_BYTES_PER_UPLOAD_BYTE, dataset_root
from domain.errors import Conflict, InvalidRequest, Location
from domain.job_request import DATASET_ID_PREFIX, TeacherRef
from domain.ownership import get_owned
from domain.redaction import redact_paths
from domain.status import JobStatus
from sdd_core.data import DatasetInfo, describe_dataset
from sdd_core.errors import DataError, TeacherError
from sdd_core.spec import TeacherCheckpoint
from service.artifacts import ChecksumMismatch, dataset_key, job_student_key, model_weights_key
from service.db.models import Artifact, Dataset, Job, UploadedModel
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetFacts:
    num_classes: int
    image_size: int


@dataclass(frozen=True)
class TeacherFacts:
    arch: str
    num_classes: int


def is_uploaded_dataset(dataset: str) -> bool:
    return dataset.startswith(DATASET_ID_PREFIX)


def dataset_facts(
    session: Session,
    settings: Settings,
    tenant_id: str,
    dataset: str,
    image_size: int | None,
    location: Location = ("dataset",),
) -> DatasetFacts:
    """Class count and the image size the models will see, for a built-in or an uploaded dataset."""
    if is_uploaded_dataset(dataset):
        row = get_owned(session, Dataset, tenant_id, dataset, kind="dataset", location=location)
        return DatasetFacts(num_classes=row.num_classes, image_size=image_size or row.image_size)
    try:
        info = _describe_builtin(dataset, str(settings.data_root), image_size, settings.allow_download)
    except DataError as exc:
        log.warning("dataset %s cannot be used: %s", dataset, exc.message)  # the operator's full text
        raise InvalidRequest(redact_paths(exc.message, settings), code=exc.code, location=location) from exc
    return DatasetFacts(num_classes=info.num_classes, image_size=info.image_size)


@lru_cache(maxsize=64)
def _describe_builtin(name: str, data_root: str, image_size: int | None, download: bool) -> DatasetInfo:
    """A built-in dataset's info; successes are cached (a built-in never changes once present)."""
    return describe_dataset(name, data_root=data_root, image_size=image_size, download=download)


def teacher_job(session: Session, tenant_id: str, job_id: str) -> Job:
    """The tenant's job ``job_id``, which must have succeeded to teach."""
    job = get_owned(session, Job, tenant_id, job_id, kind="job", location=("teacher", "job"))
    if job.status != JobStatus.SUCCEEDED:
        waiting = job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        hint = "wait until it has succeeded" if waiting else "name a succeeded job"
        raise Conflict(
            f"teacher job {job.id} is {job.status}; only a succeeded job's student can teach ({hint})",
            code="teacher_not_succeeded",
            location=("teacher", "job"),
        )
    return job


def teacher_model(session: Session, tenant_id: str, model_id: str) -> UploadedModel:
    return get_owned(session, UploadedModel, tenant_id, model_id, kind="model", location=("teacher", "model"))


def teacher_facts(session: Session, settings: Settings, tenant_id: str, ref: TeacherRef | None) -> TeacherFacts | None:
    """Architecture and class count of the referenced teacher; None without a teacher."""
    if ref is None:
        return None
    if ref.model is not None:
        model = teacher_model(session, tenant_id, ref.model)
        return TeacherFacts(arch=model.arch, num_classes=model.num_classes)
    assert ref.job is not None
    job = teacher_job(session, tenant_id, ref.job)
    facts = dataset_facts(
        session, settings, tenant_id, job.spec["dataset"], job.spec.get("image_size"), ("teacher", "job")
    )
    return TeacherFacts(arch=job.spec["student"], num_classes=facts.num_classes)


# ------------------------------------------------------------------ files, for the trainer


def dataset_source(session: Session, settings: Settings, tenant_id: str, dataset: str, store: Any) -> str:
    """What the trainer reads: a built-in name as it is, ``imagefolder:<local folder>`` for an uploaded dataset."""
    if not is_uploaded_dataset(dataset):
        return dataset
    row = get_owned(session, Dataset, tenant_id, dataset, kind="dataset", location=("dataset",))

    def unpack(archive: Path, dest: Path) -> None:  # the upload, checked as at upload time, once per node
        extracted = extract_archive(
            archive, dest.parent, max_total_bytes=EXTRACTED_BYTES_PER_UPLOAD_BYTE * settings.max_upload_bytes
        )
        try:
            dataset_root(extracted).rename(dest)
        finally:
            shutil.rmtree(extracted, ignore_errors=True)

    try:
        folder = store.fetch_unpacked(dataset_key(dataset), row.sha256, unpack)
    except FileNotFoundError as exc:
        raise DataError(f"the files of dataset {dataset} are missing from the artifact store") from exc
    except ChecksumMismatch as exc:
        raise DataError(f"the stored files of dataset {dataset} do not match their recorded SHA-256") from exc
    return f"imagefolder:{folder}"


def teacher_checkpoint(
    session: Session, tenant_id: str, ref: TeacherRef | None, store: Any
) -> TeacherCheckpoint | None:
    """The teacher's architecture and a local copy of its weights from the artifact store; None without a teacher."""
    if ref is None:
        return None
    sha256: str | None
    if ref.model is not None:
        model = teacher_model(session, tenant_id, ref.model)
        key, sha256, arch = model_weights_key(model.id), model.sha256, model.arch
        what = f"the weights of teacher model {model.id}"
    else:
        assert ref.job is not None
        job = teacher_job(session, tenant_id, ref.job)
        key, arch = job_student_key(job.id), job.spec["student"]
        sha256 = session.scalar(select(Artifact.sha256).where(Artifact.job_id == job.id, Artifact.kind == "student"))
        what = f"the student weights of teacher job {job.id}"
    try:
        path = store.fetch(key, sha256)
    except FileNotFoundError as exc:
        raise TeacherError(f"{what} are missing from the artifact store") from exc
    except ChecksumMismatch as exc:
        raise TeacherError(f"{what} in the artifact store do not match their recorded SHA-256") from exc
    return TeacherCheckpoint(arch=arch, checkpoint=str(path))
