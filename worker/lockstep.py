"""Which jobs a worker trains together: a claimed job's lockstep group (``jobs.group_key``).

Members of a sweep that draw the same batches (they agree on the fields ``sdd_core.lockstep``
lists) share a ``group_key`` (``domain.sweeps.sweep_submission``). Each is an ordinary job with
its own message; the worker whose delivery claims one of them also claims its siblings still
``queued`` (each with the same conditional UPDATE as any claim, so a sibling another worker took
meanwhile is simply not ours) and trains them all with one teacher forward per batch
(``sdd_core.trainer.train_group``). A sibling's own message then finds it running and is skipped.
Only siblings that resume from the same point (epoch and batch) as the claimed job join it: a group
split across a restart trains its parts apart, each exactly. At most ``SDD_MAX_GROUP_SIZE`` jobs
train together on one device.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.jobs import transitions
from domain.status import JobStatus
from service.artifacts import ArtifactStore
from service.db.models import Job
from worker.job_artifacts import latest_checkpoint

log = logging.getLogger(__name__)

Position = tuple[int, int]  # (epochs done, batches done in the next), where a job's training starts


def start_position(session: Session, store: ArtifactStore, job_id: str) -> Position:
    """Where ``job_id`` would resume: its newest readable checkpoint's place, (0, 0) without one."""
    resume = latest_checkpoint(session, store, job_id)
    return (0, 0) if resume is None else (resume.epoch, resume.batch or 0)


def claim_siblings(
    session: Session, store: ArtifactStore, lead: Job, owner_of: Any, *, lease_seconds: int, max_group: int
) -> list[tuple[str, str]]:
    """Claim the queued jobs of ``lead``'s group that start where it starts: [(job id, owner)].

    ``owner_of()`` makes a fresh attempt owner for each claim. Commits each claim.
    """
    if lead.group_key is None or max_group <= 1:
        return []
    candidates = session.scalars(
        select(Job.id)
        .where(
            Job.group_key == lead.group_key,
            Job.tenant_id == lead.tenant_id,
            Job.status == JobStatus.QUEUED,
            Job.id != lead.id,
        )
        .order_by(Job.created_at, Job.id)
        .limit(max_group - 1)
    ).all()
    if not candidates:
        return []
    where = start_position(session, store, lead.id)
    claimed: list[tuple[str, str]] = []
    for job_id in candidates:
        if start_position(session, store, job_id) != where:
            log.info("job %s: starts elsewhere than %s (%s); trained apart", job_id, lead.id, where)
            continue
        owner = owner_of()
        if transitions.claim(session, job_id, owner, lease_seconds):
            claimed.append((job_id, owner))
    if claimed:
        log.info("job %s: training in lockstep with %s", lead.id, ", ".join(job_id for job_id, _ in claimed))
    return claimed
