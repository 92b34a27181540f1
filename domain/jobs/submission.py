"""From a ``JobRequest`` to a stored, queued job: the one submission path of REST and dashboard.

Steps, in order: replay an ``Idempotency-Key`` seen before; ``domain.jobs.validation.validate_submission``
(limits, references, defaults, model compatibility); refuse (``TooManyJobs``) a tenant that
already has ``max_jobs_in_flight`` unfinished jobs; store the job and its ``queued`` event in one commit;
then hand it to the broker. A broker that is down does not fail the request: the job stays
``queued`` in SQL and workers re-enqueue queued jobs when they start.

``domain.sweeps.sweep_submission`` submits many jobs at once through the same pieces: ``new_job_row``,
``check_jobs_in_flight`` (counting every member) and ``send_to_workers``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.errors import Conflict, TooManyJobs
from domain.jobs.job_request import JobRequest
from domain.jobs.transitions import record_event
from domain.jobs.validation import ValidatedJob, validate_submission
from domain.recovery.worker_nodes import note_unserved
from domain.status import IN_FLIGHT, JobStatus
from service.db.models import Job, JobTag, Tenant, new_id
from service.job_queue import enqueue_job
from service.settings import Settings

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 255


@dataclass(frozen=True)
class Submission:
    job: Job
    replayed: bool


def request_hash(body: BaseModel) -> str:
    """SHA-256 of the canonical JSON of a parsed request body (defaults included, keys sorted): what
    an ``Idempotency-Key`` replay must match, for a job or a sweep."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit_job(
    session: Session, settings: Settings, tenant: Tenant, spec: JobRequest, idempotency_key: str | None
) -> Submission:
    """Validate, store and enqueue ``spec``; or return the job an earlier identical request made."""
    digest = request_hash(spec)
    if idempotency_key is not None:
        earlier = _job_with_key(session, tenant.id, idempotency_key)
        if earlier is not None:
            return Submission(_replay(earlier, digest, idempotency_key), replayed=True)

    validated = validate_submission(session, settings, tenant.id, spec)
    check_jobs_in_flight(session, settings, tenant)
    job = new_job_row(tenant.id, validated, idempotency_key=idempotency_key, request_hash=digest)
    session.add(job)
    try:
        session.flush()
        record_queued(session, job)
        session.commit()
    except IntegrityError:
        session.rollback()
        # Another request with the same key committed first: answer with its job.
        winner = _job_with_key(session, tenant.id, idempotency_key) if idempotency_key else None
        if winner is None:
            raise
        return Submission(_replay(winner, digest, idempotency_key or ""), replayed=True)

    logger.info("job %s: created for tenant %s (%s, %s)", job.id, tenant.name, spec.method, spec.dataset)
    send_to_workers([job])
    note_unserved(session, [job], settings.worker_alive_seconds)
    return Submission(job, replayed=False)


def new_job_row(
    tenant_id: str,
    validated: ValidatedJob,
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    sweep_id: str | None = None,
    group_key: str | None = None,
    name: str | None = None,
) -> Job:
    """The row of a ``queued`` job for a validated request (not added to any session yet).

    ``name`` replaces the request's (a sweep names its members).
    """
    return Job(
        id=new_id("job"),
        tenant_id=tenant_id,
        status=JobStatus.QUEUED,
        spec=validated.stored_spec(),
        request=validated.request.as_submitted(),
        metadata_=validated.request.metadata,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        epochs=validated.hyperparameters.epochs,
        sweep_id=sweep_id,
        group_key=group_key,
        name=name if name is not None else validated.request.name,
        tag_rows=[JobTag(tag=tag) for tag in validated.request.tags],
    )


def record_queued(session: Session, job: Job) -> None:
    """The ``queued`` event every new job starts with (committed by the caller)."""
    spec = job.spec
    record_event(session, job.id, "queued", f"queued: {spec['method']} {spec['student']} on {spec['dataset']}")


def send_to_workers(jobs: Sequence[Job]) -> None:
    """Enqueue jobs already committed as ``queued``, each on the queue of its device count; a
    broker that is down leaves them to the reaper."""
    for job in jobs:
        job_id = job.id
        try:
            enqueue_job(job_id, job.devices)
        except Exception as exc:  # the broker's many transport errors; the job is safe in SQL
            logger.warning(
                "job %s: stored but not enqueued (%s: %s); it stays queued until a worker starts and re-enqueues it",
                job_id,
                type(exc).__name__,
                exc,
            )


def check_jobs_in_flight(session: Session, settings: Settings, tenant: Tenant, adding: int = 1) -> None:
    """``TooManyJobs`` when ``adding`` more jobs would take the tenant past ``max_jobs_in_flight``.

    Exact on both backends: the tenant's submissions are serialised by a no-op write on its row,
    which takes that row's lock on PostgreSQL and the database's write lock on SQLite, both held
    until the caller commits. The count that follows therefore sees every job committed before,
    and no other submission of the tenant can add one until this one has committed or rolled back.
    The read transaction of the checks before is ended first: on SQLite a transaction that has
    read cannot take the write lock after another writer committed (its snapshot is stale).
    """
    limit = settings.max_jobs_in_flight
    if limit <= 0:
        return
    if adding > limit:
        raise TooManyJobs(
            f"this request makes {adding} jobs, more than the {limit} jobs this service allows queued, running "
            "or cancelling at a time per account; split it into requests of at most that many",
        )
    session.commit()  # nothing is pending yet: this only ends the checks' read transaction
    session.execute(update(Tenant).where(Tenant.id == tenant.id).values(name=Tenant.name))
    in_flight = session.scalar(
        select(func.count()).select_from(Job).where(Job.tenant_id == tenant.id, Job.status.in_(IN_FLIGHT))
    )
    if in_flight is not None and in_flight + adding > limit:
        more = "" if adding == 1 else f"; this request adds {adding}"
        raise TooManyJobs(
            f"you have {in_flight} jobs queued, running or cancelling{more}; this service allows {limit} at a "
            "time per account. Wait for one to finish or cancel one, then submit again",
        )


def _job_with_key(session: Session, tenant_id: str, key: str) -> Job | None:
    return session.scalar(select(Job).where(Job.tenant_id == tenant_id, Job.idempotency_key == key))


def _replay(job: Job, digest: str, key: str) -> Job:
    if job.request_hash != digest:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used for job {job.id} with a different request body; "
            "use a new key for a different job",
            code="idempotency_conflict",
            location=("Idempotency-Key",),
        )
    return job
