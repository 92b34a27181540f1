"""From a ``JobRequest`` to a stored, queued job: the one submission path of REST and dashboard.

Steps, in order: replay an ``Idempotency-Key`` seen before; ``domain.validation.validate_submission``
(limits, references, defaults, model compatibility); refuse (``TooManyJobs``) a tenant that
already has ``max_jobs_in_flight`` unfinished jobs; store the job and its ``queued`` event in one commit;
then hand it to the broker. A broker that is down does not fail the request: the job stays
``queued`` in SQL and workers re-enqueue queued jobs when they start.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.errors import Conflict, TooManyJobs
from domain.job_request import JobRequest
from domain.status import IN_FLIGHT, JobStatus
from domain.transitions import record_event
from domain.validation import validate_submission
from service.db.models import Job, Tenant, new_id
from service.job_queue import enqueue_job
from service.settings import Settings

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 255


@dataclass(frozen=True)
class Submission:
    job: Job
    replayed: bool


def request_hash(spec: JobRequest) -> str:
    """SHA-256 of the canonical JSON of the parsed body (defaults included, keys sorted)."""
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
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
    _check_jobs_in_flight(session, settings, tenant)
    job = Job(
        id=new_id("job"),
        tenant_id=tenant.id,
        status=JobStatus.QUEUED,
        spec=validated.stored_spec(),
        metadata_=spec.metadata,
        idempotency_key=idempotency_key,
        request_hash=digest,
        epochs=validated.hyperparameters.epochs,
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


def _check_jobs_in_flight(session: Session, settings: Settings, tenant: Tenant) -> None:
    """``TooManyJobs`` when the tenant already has ``max_jobs_in_flight`` unfinished jobs.

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
        select(func.count()).select_from(Job).where(Job.tenant_id == tenant.id, Job.status.in_(IN_FLIGHT))
    )
    if in_flight is not None and in_flight >= limit:
        raise TooManyJobs(
            f"you have {in_flight} jobs queued, running or cancelling; this service allows {limit} at a "
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
