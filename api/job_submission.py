"""From a ``JobCreate`` to a stored, queued job.

Steps, in order: replay an ``Idempotency-Key`` seen before; check the service limits; resolve the
dataset and the teacher (both must belong to the caller's tenant) to the facts the cheap
compatibility check needs; fill every default in; refuse (429) a tenant that already has
``max_jobs_in_flight`` unfinished jobs; store the job and its ``queued`` event in one commit;
then hand it to the broker. A broker that is down does not fail the request: the job stays
``queued`` in SQL and workers re-enqueue queued jobs when they start.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.ownership import get_owned
from api.schemas.jobs import DATASET_ID_PREFIX, JobCreate, TeacherRef
from sdd_core.data import DatasetInfo, describe_dataset
from sdd_core.errors import DataError
from sdd_core.spec import Hyperparameters, resolve_hyperparameters
from sdd_core.trainer.compatibility import check_architectures
from service.db.models import Dataset, Job, Tenant, UploadedModel, new_id
from service.job_lifecycle import record_event
from service.settings import Settings
from worker.queue import enqueue_job

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 255
IN_FLIGHT_STATUSES = ("queued", "running", "cancelling")


@dataclass(frozen=True)
class DatasetFacts:
    num_classes: int
    image_size: int


@dataclass(frozen=True)
class TeacherFacts:
    arch: str
    num_classes: int


@dataclass(frozen=True)
class Submission:
    job: Job
    replayed: bool


def request_hash(spec: JobCreate) -> str:
    """SHA-256 of the canonical JSON of the parsed body (defaults included, keys sorted)."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit_job(
    session: Session, settings: Settings, tenant: Tenant, spec: JobCreate, idempotency_key: str | None
) -> Submission:
    """Validate, store and enqueue ``spec``; or return the job an earlier identical request made."""
    digest = request_hash(spec)
    if idempotency_key is not None:
        earlier = _job_with_key(session, tenant.id, idempotency_key)
        if earlier is not None:
            return Submission(_replay(earlier, digest, idempotency_key), replayed=True)

    _check_request_limits(settings, spec)
    dataset = dataset_facts(session, settings, tenant.id, spec.dataset, spec.image_size)
    teacher = teacher_facts(session, settings, tenant.id, spec.teacher)
    hyperparameters = resolve_hyperparameters(
        spec.method, spec.student, teacher.arch if teacher else None, spec.hyperparameters
    )
    _check_resolved_limits(settings, hyperparameters, dataset.image_size)
    check_architectures(
        method=spec.method,
        scales=spec.scales,
        student=spec.student,
        teacher_arch=teacher.arch if teacher else None,
        num_classes=dataset.num_classes,
        teacher_num_classes=teacher.num_classes if teacher else None,
        image_size=dataset.image_size,
    )

    _check_jobs_in_flight(session, settings, tenant)
    stored = spec.model_dump(mode="json", exclude={"metadata", "teacher"})
    stored["teacher"] = spec.teacher.model_dump(exclude_none=True) if spec.teacher else None
    stored["hyperparameters"] = hyperparameters.model_dump(mode="json")
    stored["image_size"] = dataset.image_size
    job = Job(
        id=new_id("job"),
        tenant_id=tenant.id,
        status="queued",
        spec=stored,
        metadata_=spec.metadata,
        idempotency_key=idempotency_key,
        request_hash=digest,
        epochs=hyperparameters.epochs,
    )
    session.add(job)
    try:
        session.flush()
        record_event(session, job.id, "queued", f"queued: {spec.method} {spec.student} on {spec.dataset}")
        session.commit()
    except IntegrityError:
        session.rollback()
        # Another request with the same key committed first: answer with its job.
        winner = _job_with_key(session, tenant.id, idempotency_key) if idempotency_key else None
        if winner is None:
            raise
        return Submission(_replay(winner, digest, idempotency_key or ""), replayed=True)

    logger.info("job %s: created for tenant %s (%s, %s)", job.id, tenant.name, spec.method, spec.dataset)
    try:
        enqueue_job(job.id)
    except Exception as exc:  # the broker's many transport errors; the job is safe in SQL
        logger.warning(
            "job %s: stored but not enqueued (%s: %s); it stays queued until a worker starts and re-enqueues it",
            job.id,
            type(exc).__name__,
            exc,
        )
    return Submission(job, replayed=False)


def dataset_facts(
    session: Session,
    settings: Settings,
    tenant_id: str,
    dataset: str,
    image_size: int | None,
    param: str = "dataset",
) -> DatasetFacts:
    """Class count and the image size the models will see, for a built-in or an uploaded dataset."""
    if dataset.startswith(DATASET_ID_PREFIX):
        row = get_owned(session, Dataset, tenant_id, dataset, kind="dataset", param=param)
        return DatasetFacts(num_classes=row.num_classes, image_size=image_size or row.image_size)
    try:
        info = _describe_builtin(dataset, str(settings.data_root), image_size, settings.allow_download)
    except DataError as exc:
        raise ApiError(422, exc.code, exc.message, param) from exc
    return DatasetFacts(num_classes=info.num_classes, image_size=info.image_size)


@lru_cache(maxsize=64)
def _describe_builtin(name: str, data_root: str, image_size: int | None, download: bool) -> DatasetInfo:
    """A built-in dataset's info; successes are cached (a built-in never changes once present)."""
    return describe_dataset(name, data_root=data_root, image_size=image_size, download=download)


def teacher_facts(
    session: Session, settings: Settings, tenant_id: str, ref: TeacherRef | None
) -> TeacherFacts | None:
    """Architecture and class count of the referenced teacher; None without a teacher."""
    if ref is None:
        return None
    if ref.model is not None:
        model = get_owned(session, UploadedModel, tenant_id, ref.model, kind="model", param="teacher.model")
        return TeacherFacts(arch=model.arch, num_classes=model.num_classes)
    assert ref.job is not None
    job = get_owned(session, Job, tenant_id, ref.job, kind="job", param="teacher.job")
    if job.status != "succeeded":
        hint = (
            "wait until it has succeeded" if job.status in ("queued", "running") else "name a succeeded job"
        )
        raise ApiError(
            409,
            "teacher_not_succeeded",
            f"teacher job {job.id} is {job.status}; only a succeeded job's student can teach ({hint})",
            "teacher.job",
        )
    facts = dataset_facts(
        session, settings, tenant_id, job.spec["dataset"], job.spec.get("image_size"), "teacher.job"
    )
    return TeacherFacts(arch=job.spec["student"], num_classes=facts.num_classes)


def _check_request_limits(settings: Settings, spec: JobCreate) -> None:
    too_big = [s for s in spec.scales if s > settings.max_scale]
    if too_big:
        raise _limit("scales", f"scale(s) {too_big} exceed this service's limit of {settings.max_scale}")
    if spec.image_size is not None and spec.image_size > settings.max_image_size:
        raise _limit(
            "image_size", f"{spec.image_size} exceeds this service's limit of {settings.max_image_size}"
        )


def _check_resolved_limits(settings: Settings, hyperparameters: Hyperparameters, image_size: int) -> None:
    assert hyperparameters.epochs is not None and hyperparameters.batch_size is not None
    if hyperparameters.epochs > settings.max_epochs:
        raise _limit(
            "hyperparameters.epochs",
            f"{hyperparameters.epochs} exceeds this service's limit of {settings.max_epochs} epochs",
        )
    if hyperparameters.batch_size > settings.max_batch_size:
        raise _limit(
            "hyperparameters.batch_size",
            f"{hyperparameters.batch_size} exceeds this service's limit of {settings.max_batch_size}",
        )
    if image_size > settings.max_image_size:
        raise _limit(
            "image_size",
            f"the dataset trains at {image_size}px, over this service's limit of {settings.max_image_size}; "
            "set a smaller image_size",
        )


def _check_jobs_in_flight(session: Session, settings: Settings, tenant: Tenant) -> None:
    """429 ``too_many_jobs`` when the tenant already has ``max_jobs_in_flight`` unfinished jobs.

    On PostgreSQL the tenant's row is locked first, so concurrent submissions of one tenant count
    one after the other and the limit is exact. On SQLite (the embedded default) two requests
    arriving together may both pass at the limit: the count may exceed it by the number of
    simultaneous submissions, which is acceptable for a bound on resource use.
    """
    limit = settings.max_jobs_in_flight
    if limit <= 0:
        return
    # FOR NO KEY UPDATE: serialises submissions of this tenant, not inserts that reference it.
    session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update(key_share=True))
    in_flight = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.tenant_id == tenant.id, Job.status.in_(IN_FLIGHT_STATUSES))
    )
    if in_flight is not None and in_flight >= limit:
        raise ApiError(
            429,
            "too_many_jobs",
            f"you have {in_flight} jobs queued, running or cancelling; this service allows {limit} at a "
            "time per account. Wait for one to finish or cancel one, then submit again",
        )


def _limit(param: str, message: str) -> ApiError:
    return ApiError(422, "limit_exceeded", f"{param}: {message}", param)


def _job_with_key(session: Session, tenant_id: str, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key))


def _replay(job: Job, digest: str, key: str) -> Job:
    if job.request_hash != digest:
        raise ApiError(
            409,
            "idempotency_conflict",
            f"Idempotency-Key {key!r} was already used for job {job.id} with a different request body; "
            "use a new key for a different job",
            "Idempotency-Key",
        )
    return job
