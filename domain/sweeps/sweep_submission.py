"""From a ``SweepRequest`` to a stored sweep and its queued member jobs; the lockstep groups.

``submit_sweep`` follows ``domain.jobs.submission`` step for step, for many jobs at once:

1. replay an ``Idempotency-Key`` seen before (the same body answers with the same sweep; another
   body is a ``Conflict``);
2. expand the grid (``domain.sweeps.sweep_request.expand``: over ``max_sweep_size`` members is a
   ``LimitExceeded`` naming the count) and validate EVERY member with
   ``domain.jobs.validation.validate_submission``, as a job submitted alone would be, before anything
   is stored: one member that cannot train refuses the whole sweep, naming the member and the
   field (``("grid", "scales")``, ``("base", "teacher", "job")``);
3. ``check_jobs_in_flight`` counting every member;
4. the sweep row and all members (each a normal job with ``sweep_id``, ``group_key`` and its own
   ``queued`` event) in ONE commit;
5. enqueue each member, as a job submitted alone.

A search's trials (``domain.sweeps.sweep_search``) must fit one lockstep group
(``check_search_group``): each rung waits for every trial, so trials that could not train together
would keep the first ones training past rungs nobody could decide yet.

Lockstep groups. Members that draw the same batches can be trained together with one teacher
forward per batch. They share a ``group_key``: a short SHA-256 of the stored spec's lockstep
values. Which fields those are is the trainer's rule, kept in one place: ``sdd_core.lockstep``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.errors import Conflict, DomainError, InvalidRequest, LimitExceeded
from domain.jobs.job_request import NAME_MAX_CHARS as JOB_NAME_MAX_CHARS
from domain.jobs.submission import check_jobs_in_flight, new_job_row, record_queued, request_hash, send_to_workers
from domain.jobs.validation import ValidatedJob, validate_submission
from domain.sweeps.sweep_request import Member, SweepRequest, expand
from sdd_core.lockstep import lockstep_values
from service.db.models import Job, Sweep, Tenant, new_id
from service.settings import Settings

logger = logging.getLogger(__name__)

GROUP_KEY_CHARS = 16


@dataclass(frozen=True)
class SweepSubmission:
    sweep: Sweep
    members: list[Job]
    replayed: bool


def group_key(spec: Mapping[str, Any]) -> str:
    """The lockstep group of a stored spec: the first 16 hex digits of the SHA-256 of the canonical
    JSON of its ``sdd_core.lockstep.lockstep_values``."""
    canonical = json.dumps(lockstep_values(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:GROUP_KEY_CHARS]


_NAME_LABELS = {"beta": "β=", "temperature": "T=", "seed": "seed "}


def member_name(prefix: str | None, values: Mapping[str, Any], trial: int | None = None) -> str | None:
    """A member's name: ``"<prefix> sd-kd β=4.0 s=[1,2,4] seed 0"`` (its grid values), or None without a
    prefix; a search's trial: ``"<prefix> trial 3 β=2.659 T=4.814"``."""
    if prefix is None:
        return None
    parts = [prefix] if trial is None else [prefix, f"trial {trial}"]
    for field, value in values.items():
        if field in ("method", "student"):
            parts.append(str(value))
        elif field == "scales":
            parts.append("s=[" + ",".join(str(scale) for scale in value) + "]")
        else:
            parts.append(f"{_NAME_LABELS.get(field, field)}{value}")
    return " ".join(parts)[:JOB_NAME_MAX_CHARS].rstrip()


def submit_sweep(
    session: Session, settings: Settings, tenant: Tenant, request: SweepRequest, idempotency_key: str | None
) -> SweepSubmission:
    """Validate every member, store the sweep and its members in one commit, enqueue them.

    Or, for an ``Idempotency-Key`` seen before with the same body, the sweep that request made.
    """
    digest = request_hash(request)
    if idempotency_key is not None:
        earlier = _sweep_with_key(session, tenant.id, idempotency_key)
        if earlier is not None:
            return _replay(session, earlier, digest, idempotency_key)

    members = expand(request, settings.max_sweep_size)
    if request.search is not None:
        check_search_group(request, len(members), settings.max_group_size)
    validated = [_validated(session, settings, tenant.id, member, len(members)) for member in members]
    check_jobs_in_flight(session, settings, tenant, adding=len(validated))
    sweep = Sweep(
        id=new_id("swp"),
        tenant_id=tenant.id,
        name=request.name,
        request=request.stored_request(members),
        metadata_=request.metadata,
        idempotency_key=idempotency_key,
        request_hash=digest,
    )
    jobs = [
        new_job_row(
            tenant.id,
            job,
            request_hash=request_hash(job.request),
            sweep_id=sweep.id,
            # Jobs on several devices train alone: their ranks hold one student each.
            group_key=group_key(job.stored_spec()) if job.request.devices == 1 else None,
            name=member_name(
                request.name or request.base.name,
                member.values,
                trial=member.index + 1 if request.search is not None else None,
            ),
        )
        for member, job in zip(members, validated, strict=True)
    ]
    session.add(sweep)
    try:
        session.flush()  # the sweep before the members that reference it
        session.add_all(jobs)
        session.flush()
        for job in jobs:
            record_queued(session, job)
        session.commit()
    except IntegrityError:
        session.rollback()
        # Another request with the same key committed first: answer with its sweep.
        winner = _sweep_with_key(session, tenant.id, idempotency_key) if idempotency_key else None
        if winner is None:
            raise
        return _replay(session, winner, digest, idempotency_key or "")

    logger.info("sweep %s: created for tenant %s with %d members", sweep.id, tenant.name, len(jobs))
    send_to_workers(jobs)
    return SweepSubmission(sweep, jobs, replayed=False)


def check_search_group(request: SweepRequest, trials: int, max_group_size: int) -> None:
    """A search's trials start together as one lockstep group (its rungs wait for every trial): at most
    ``SDD_MAX_GROUP_SIZE`` of them, on one device each."""
    if trials > max_group_size:
        raise LimitExceeded(
            f"search.trials: a search's {trials} trials train together as one lockstep group, and this service "
            f"trains at most {max_group_size} students in one group (SDD_MAX_GROUP_SIZE); ask for at most "
            f"{max_group_size} trials",
            location=("search", "trials"),
        )
    if request.base.devices > 1:
        raise InvalidRequest(
            f"base.devices: a search's trials train together on one device as one lockstep group; "
            f"{request.base.devices} devices train one job alone. Leave devices at 1",
            location=("base", "devices"),
        )


def _validated(session: Session, settings: Settings, tenant_id: str, member: Member, total: int) -> ValidatedJob:
    """The member checked as a job submitted alone; a refusal names the member and the sweep's field."""
    try:
        return validate_submission(session, settings, tenant_id, member.request)
    except DomainError as exc:
        raise type(exc)(
            f"{member.describe(total)}: {exc.message}", code=exc.code, location=member.location(exc.location)
        ) from exc


def sweep_members(session: Session, sweep_id: str) -> list[Job]:
    """The sweep's member jobs (in no particular order; ``domain.sweeps.sweep_reads`` orders them)."""
    return list(session.scalars(select(Job).where(Job.sweep_id == sweep_id)))


def _sweep_with_key(session: Session, tenant_id: str, key: str) -> Sweep | None:
    return session.scalar(select(Sweep).where(Sweep.tenant_id == tenant_id, Sweep.idempotency_key == key))


def _replay(session: Session, sweep: Sweep, digest: str, key: str) -> SweepSubmission:
    if sweep.request_hash != digest:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used for sweep {sweep.id} with a different request body; "
            "use a new key for a different sweep",
            code="idempotency_conflict",
            location=("Idempotency-Key",),
        )
    return SweepSubmission(sweep, sweep_members(session, sweep.id), replayed=True)
