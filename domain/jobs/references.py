"""What a job's references point at: datasets and teachers, tenant-scoped, in the two forms needed.

A job names things by id (``dataset``: a built-in name or ``ds_…``; ``teacher``: ``{"job": id}``
or ``{"model": id}``). Two questions are asked of them:

* at submission and again before training, the **facts** the checks need (class count, image
  size, teacher architecture): ``dataset_facts``, ``teacher_facts``;
* before training, the **files** the trainer reads, as local paths fetched through the artifact
  store (in place for the local store; into the node's cache, checked against the SHA-256 the
  rows record, for an object store): ``dataset_source`` (``shards:<index.json>`` for an ingested
  dataset, ``imagefolder:<folder>`` for one uploaded before shards) and ``teacher_checkpoint`` (a
  succeeded job's student, or an uploaded model's weights).

Another tenant's objects are reported exactly like missing ones.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

import sdd_core.data  # what a name holds (torch) loads with the first dataset checked
from domain.datasets.archives import extract_archive
from domain.datasets.builtin_datasets import not_on_this_server
from domain.datasets.sources import check_source
from domain.datasets.uploaded_datasets import EXTRACTED_BYTES_PER_UPLOAD_BYTE, dataset_root
from domain.errors import Conflict, InvalidRequest, Location
from domain.jobs.job_request import DATASET_ID_PREFIX, StudentInitRef, TeacherRef, WeightsRef
from domain.ownership import get_owned
from domain.redaction import redact_paths
from domain.status import DatasetStatus, JobStatus
from sdd_core import models as zoo  # the zoo (torch) loads with the first pretrained weights asked for
from sdd_core.data import SHARDS_PREFIX, DatasetShape
from sdd_core.errors import DataError, DatasetNotDownloaded, TeacherError, WeightsUnavailableError
from sdd_core.spec import StudentInit, TeacherCheckpoint, WarmStart
from service.artifacts import ArtifactStore, ChecksumMismatch, dataset_key, job_student_key, model_weights_key
from service.db.models import Artifact, Dataset, Job, Tenant, UploadedModel
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
    pretrained: bool = False


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
        if row.status != DatasetStatus.READY or row.num_classes is None or row.image_size is None:
            hint = (
                "wait until it is ready (sdd datasets wait)"
                if row.status == DatasetStatus.INGESTING
                else "register it again"
            )
            raise Conflict(f"dataset {row.id} is {row.status}; {hint}", code="dataset_not_ready", location=location)
        return DatasetFacts(num_classes=row.num_classes, image_size=image_size or row.image_size)
    try:
        shape = _builtin_shape(dataset, str(settings.data_root), image_size, settings.allow_download)
    except DataError as exc:
        log.warning("dataset %s cannot be used: %s", dataset, exc.message)  # the operator's full text
        message = not_on_this_server(dataset, exc, settings) if isinstance(exc, DatasetNotDownloaded) else exc.message
        raise InvalidRequest(redact_paths(message, settings), code=exc.code, location=location) from exc
    return DatasetFacts(num_classes=shape.num_classes, image_size=shape.image_size)


@lru_cache(maxsize=64)
def _builtin_shape(name: str, data_root: str, image_size: int | None, download: bool) -> DatasetShape:
    """A built-in dataset's classes and sizes, no image touched whatever ``image_size`` a request
    names; successes are cached (a built-in never changes once present)."""
    return sdd_core.data.dataset_shape(name, data_root=data_root, image_size=image_size, download=download)


def teacher_job(session: Session, tenant_id: str, job_id: str) -> Job:
    """The tenant's job ``job_id``, which must have succeeded to teach."""
    return _succeeded_job(session, tenant_id, job_id, ("teacher", "job"), "student can teach", "teacher job")


def _succeeded_job(
    session: Session, tenant_id: str, job_id: str, location: Location, use: str, kind: str = "job"
) -> Job:
    """The tenant's job ``job_id``; a ``Conflict`` unless it has succeeded (only then is there a student)."""
    job = get_owned(session, Job, tenant_id, job_id, kind="job", location=location)
    if job.status != JobStatus.SUCCEEDED:
        waiting = job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        hint = "wait until it has succeeded" if waiting else "name a succeeded job"
        raise Conflict(
            f"{kind} {job.id} is {job.status}; only a succeeded job's {use} ({hint})",
            code="teacher_not_succeeded" if location[0] == "teacher" else "job_not_succeeded",
            location=location,
        )
    return job


def teacher_model(session: Session, tenant_id: str, model_id: str) -> UploadedModel:
    return get_owned(session, UploadedModel, tenant_id, model_id, kind="model", location=("teacher", "model"))


def teacher_facts(session: Session, settings: Settings, tenant_id: str, ref: TeacherRef | None) -> TeacherFacts | None:
    """Architecture and class count of the referenced teacher; None without a teacher."""
    if ref is None:
        return None
    if ref.arch is not None:
        weights = available_pretrained(settings, ref.arch, ("teacher", "arch"))
        return TeacherFacts(arch=ref.arch, num_classes=weights.num_classes, pretrained=True)
    if ref.model is not None:
        model = teacher_model(session, tenant_id, ref.model)
        return TeacherFacts(arch=model.arch, num_classes=model.num_classes)
    assert ref.job is not None
    job = teacher_job(session, tenant_id, ref.job)
    facts = dataset_facts(
        session, settings, tenant_id, job.spec["dataset"], job.spec.get("image_size"), ("teacher", "job")
    )
    return TeacherFacts(arch=job.spec["student"], num_classes=facts.num_classes)


def available_pretrained(settings: Settings, arch: str, location: Location) -> zoo.PretrainedWeights:
    """``arch``'s pretrained weights; refused if it has none, or if their file is missing here while
    ``check_weights_at_submit`` says the API's caches are the workers' (and downloads are off)."""
    weights = zoo.pretrained_weights_of(arch)
    if weights is None:
        raise InvalidRequest(
            f"{arch} has no pretrained weights; the tv/<name> and timm/<name> architectures have them "
            "(the catalog says which are present here)",
            code="no_pretrained_weights",
            location=location,
        )
    if weights.file is None and settings.check_weights_at_submit and not settings.allow_weight_downloads:
        message = redact_paths(weights.missing_message, settings)
        raise InvalidRequest(message, code=WeightsUnavailableError.code, location=location)
    return weights


def check_student_init(
    session: Session, settings: Settings, tenant_id: str, student: str, init: StudentInitRef
) -> None:
    """Refuse a student start that cannot be: no pretrained weights, or warm-start weights of another architecture."""
    if init == "scratch":
        return
    if init == "pretrained":
        available_pretrained(settings, student, ("init",))
        return
    assert isinstance(init, WeightsRef)
    arch, what = _weights_arch(session, tenant_id, init, ("init",))
    if arch != student:
        raise InvalidRequest(
            f"{what} are a {arch}, the student is a {student}: a warm start loads weights of the student's own "
            "architecture",
            code="init_mismatch",
            location=("init", "model" if init.model is not None else "job"),
        )


def _weights_arch(session: Session, tenant_id: str, ref: WeightsRef, location: Location) -> tuple[str, str]:
    """The architecture of the weights ``ref`` names, and how to name them in a message."""
    if ref.model is not None:
        model = get_owned(session, UploadedModel, tenant_id, ref.model, kind="model", location=(*location, "model"))
        return model.arch, f"the weights of model {model.id}"
    assert ref.job is not None
    job = _succeeded_job(session, tenant_id, ref.job, (*location, "job"), "student can be loaded")
    return str(job.spec["student"]), f"the student weights of job {job.id}"


# ------------------------------------------------------------------ files, for the trainer


def dataset_source(session: Session, settings: Settings, tenant_id: str, dataset: str, store: ArtifactStore) -> str:
    """What the trainer reads: a built-in name as it is; for a tenant's dataset, ``shards:<local
    index.json>`` once ingested into shards (its shards then come through ``TrainOptions.fetch_shard``,
    ``worker.shard_fetch``), ``imagefolder:<local folder>`` for one uploaded before shards."""
    if not is_uploaded_dataset(dataset):
        return dataset
    row = get_owned(session, Dataset, tenant_id, dataset, kind="dataset", location=("dataset",))
    if row.index_key is not None:
        return f"{SHARDS_PREFIX}{_sharded_index(session, settings, row, store)}"

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


def _sharded_index(session: Session, settings: Settings, row: Dataset, store: ArtifactStore) -> Path:
    """A local copy of a ready dataset's shard index, checked against ``manifest_sha256``; shards
    registered where they lie are read only while the allow-list still lets the tenant read them."""
    if row.layout == "shards" and row.source is not None:
        tenant = session.get(Tenant, row.tenant_id)
        assert tenant is not None
        try:
            check_source(settings, tenant, row.source)
        except InvalidRequest as exc:
            raise DataError(f"dataset {row.id}: {exc.message.removeprefix('source: ')}") from exc
    assert row.index_key is not None
    try:
        return Path(store.fetch(row.index_key, row.manifest_sha256))
    except FileNotFoundError as exc:
        raise DataError(f"the shard index of dataset {row.id} is missing from the artifact store") from exc
    except ChecksumMismatch as exc:
        raise DataError(f"the shard index of dataset {row.id} does not match its recorded SHA-256") from exc


def teacher_checkpoint(
    session: Session, tenant_id: str, ref: TeacherRef | None, store: ArtifactStore
) -> TeacherCheckpoint | None:
    """The teacher's architecture and a local copy of its weights from the artifact store (or
    ``pretrained``, read by the trainer from the node's caches); None without a teacher."""
    if ref is None:
        return None
    if ref.arch is not None:
        return TeacherCheckpoint(arch=ref.arch, pretrained=True)
    if ref.model is not None:
        model = teacher_model(session, tenant_id, ref.model)
        path = _fetch_weights(
            store, model_weights_key(model.id), model.sha256, f"the weights of teacher model {model.id}"
        )
        return TeacherCheckpoint(arch=model.arch, checkpoint=str(path))
    assert ref.job is not None
    job = teacher_job(session, tenant_id, ref.job)
    path = _fetch_job_student(session, store, job, f"the student weights of teacher job {job.id}")
    return TeacherCheckpoint(arch=job.spec["student"], checkpoint=str(path))


def student_init(session: Session, tenant_id: str, init: StudentInitRef, store: ArtifactStore) -> StudentInit:
    """The trainer's form of the student's start: a warm start's weights fetched to a local file."""
    if not isinstance(init, WeightsRef):
        return init
    if init.model is not None:
        model = get_owned(session, UploadedModel, tenant_id, init.model, kind="model", location=("init", "model"))
        path = _fetch_weights(store, model_weights_key(model.id), model.sha256, f"the weights of model {model.id}")
    else:
        assert init.job is not None
        job = _succeeded_job(session, tenant_id, init.job, ("init", "job"), "student can be loaded")
        path = _fetch_job_student(session, store, job, f"the student weights of job {job.id}")
    return WarmStart(checkpoint=str(path))


def _fetch_job_student(session: Session, store: ArtifactStore, job: Job, what: str) -> Path:
    sha256 = session.scalar(select(Artifact.sha256).where(Artifact.job_id == job.id, Artifact.kind == "student"))
    return _fetch_weights(store, job_student_key(job.id), sha256, what)


def _fetch_weights(store: ArtifactStore, key: str, sha256: str | None, what: str) -> Path:
    """A local copy of a weights file in the artifact store, checked against its recorded SHA-256."""
    try:
        return Path(store.fetch(key, sha256))
    except FileNotFoundError as exc:
        raise TeacherError(f"{what} are missing from the artifact store") from exc
    except ChecksumMismatch as exc:
        raise TeacherError(f"{what} in the artifact store do not match their recorded SHA-256") from exc
