"""Which workers are alive, by the device count of the jobs they serve, and the jobs none serves.

A worker records itself (``record_worker``) when it starts and at every reaper pass. A queued job
that asks for N > 1 devices while no worker serving N devices was seen within ``alive_within``
seconds gets one ``waiting_for_devices`` event saying what to start; it stays queued and runs as
soon as such a worker takes its message. (Single-device jobs are served by every plain worker.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from domain.jobs.transitions import record_event
from domain.status import JobStatus
from service.db.models import Job, JobEvent, WorkerNode, utcnow

WAITING_EVENT = "waiting_for_devices"


def record_worker(session: Session, name: str, devices: int, now: datetime | None = None) -> None:
    """``name`` is alive now, serving jobs on ``devices`` devices (commits)."""
    node = session.get(WorkerNode, name)
    now = now or utcnow()
    if node is None:
        session.add(WorkerNode(name=name, devices=devices, seen_at=now))
    else:
        node.devices, node.seen_at = devices, now
    session.commit()


def served(session: Session, devices: int, alive_within: float, now: datetime | None = None) -> bool:
    """Whether a worker serving ``devices``-device jobs was seen within ``alive_within`` seconds."""
    since = (now or utcnow()) - timedelta(seconds=alive_within)
    return bool(session.scalar(select(exists().where(WorkerNode.devices == devices, WorkerNode.seen_at >= since))))


def note_unserved(session: Session, jobs: Sequence[Job], alive_within: float, now: datetime | None = None) -> list[str]:
    """Record ``waiting_for_devices`` once for each queued job on N > 1 devices that no live worker
    serves; the ids noted (commits when there are any)."""
    candidates = [job for job in jobs if job.devices > 1 and job.status == JobStatus.QUEUED]
    if not candidates:
        return []
    # one query per device count and one for the events already recorded, whatever the backlog
    unserved = {n for n in {job.devices for job in candidates} if not served(session, n, alive_within, now)}
    noted_before = set(
        session.scalars(
            select(JobEvent.job_id).where(
                JobEvent.type == WAITING_EVENT, JobEvent.job_id.in_([job.id for job in candidates])
            )
        )
    )
    noted = []
    for job in candidates:
        devices = job.devices
        if devices not in unserved or job.id in noted_before:
            continue
        record_event(
            session,
            job.id,
            WAITING_EVENT,
            f"waiting: no worker serves {devices}-device jobs now; it stays queued until one starts "
            f"(sdd worker --devices {devices} on a node with {devices} GPUs)",
            {"devices": devices},
        )
        noted.append(job.id)
    if noted:
        session.commit()
    return noted
