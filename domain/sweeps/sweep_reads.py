"""The read models of sweeps, shared by the REST routes and the dashboard: a sweep with its
members, the status derived from theirs, progress, the report and the curves to overlay.

Every function taking a ``tenant_id`` reads only that tenant's rows (another tenant's sweep is
"not found", as for jobs).

Status of a sweep, from its members' (``domain.status`` sets), the first rule that applies:

1. every member ``queued``                                   -> ``queued``
2. some member in flight, and every member in flight is ``cancelling`` -> ``cancelling``
3. some member in flight (queued, running or cancelling)     -> ``running``
4. every member finished: all ``succeeded`` (or ``pruned``: a search's trials left at a rung) -> ``succeeded``
5. every member finished, some ``failed``                    -> ``failed``
6. every member finished, none failed, some ``cancelled``    -> ``cancelled``

So a sweep is finished (``TERMINAL``) exactly when all its members are, and ``failed`` wins
over ``cancelled``: a failure is news, a cancellation was asked for.

Progress: epochs done over epochs planned, summed over the members (a member that failed or was
cancelled early keeps the epochs it finished; a pruned trial's plan ends where it was pruned, so
a finished search is at 100 %), and the members counted by status.

Order: a grid's members in expansion order; a search's in trial order (``request["trials"]``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.jobs import job_reads
from domain.ownership import PageParams, get_owned, page_of
from domain.status import IN_FLIGHT, JobStatus
from domain.sweeps import search_rungs
from domain.sweeps.search_report import search_report
from domain.sweeps.sweep_report import MemberRecord, SweepReport, build_report, configuration_label, member_coordinates
from domain.sweeps.sweep_request import GRID_FIELDS
from domain.sweeps.sweep_submission import sweep_members
from service.db.models import Job, Sweep


@dataclass(frozen=True)
class SweepProgress:
    epoch: int  # epochs finished, summed over the members
    epochs: int  # epochs planned, summed over the members
    members: dict[str, int] = field(default_factory=dict)  # status -> how many members

    @property
    def fraction(self) -> float:
        return self.epoch / self.epochs if self.epochs else 0.0


@dataclass(frozen=True)
class SweepView:
    """A sweep, its members in expansion order, and what is derived from them."""

    sweep: Sweep
    members: list[Job]
    status: JobStatus
    progress: SweepProgress

    @property
    def groups(self) -> dict[str, list[str]]:
        """Lockstep group key -> the ids of its members, in member order."""
        groups: dict[str, list[str]] = {}
        for job in self.members:
            groups.setdefault(job.group_key or "", []).append(job.id)
        return groups


def sweep_status(statuses: Iterable[str]) -> JobStatus:
    """The sweep's status from its members' (see the module docstring)."""
    counts = Counter(JobStatus(status) for status in statuses)
    members = sum(counts.values())
    in_flight = sum(counts[status] for status in IN_FLIGHT)
    if counts[JobStatus.QUEUED] == members:
        return JobStatus.QUEUED
    if in_flight:
        return JobStatus.CANCELLING if counts[JobStatus.CANCELLING] == in_flight else JobStatus.RUNNING
    if counts[JobStatus.SUCCEEDED] + counts[JobStatus.PRUNED] == members:
        return JobStatus.SUCCEEDED
    return JobStatus.FAILED if counts[JobStatus.FAILED] else JobStatus.CANCELLED


def sweep_progress(members: Sequence[Job]) -> SweepProgress:
    counts = Counter(str(job.status) for job in members)
    return SweepProgress(
        epoch=sum(job.epoch for job in members),
        epochs=sum(job.epoch if job.status == JobStatus.PRUNED else job.epochs for job in members),
        members={status.value: counts[status.value] for status in JobStatus},
    )


def view_of(sweep: Sweep, members: Sequence[Job]) -> SweepView:
    ordered = sorted(members, key=lambda job: _position(sweep, job))
    return SweepView(sweep, ordered, sweep_status(job.status for job in ordered), sweep_progress(ordered))


def _position(sweep: Sweep, job: Job) -> tuple[int, ...]:
    """Where the member comes in the grid's expansion: the index of its value in each grid list; a
    search's member: its trial's index."""
    coordinates = member_coordinates(job.spec)
    trials: list[dict[str, Any]] | None = (sweep.request or {}).get("trials")
    if trials is not None:
        drawn = next((i for i, t in enumerate(trials) if all(coordinates.get(k) == v for k, v in t.items())), -1)
        return (drawn,)
    grid: dict[str, list[Any]] = (sweep.request or {}).get("grid") or {}
    place = []
    for name in GRID_FIELDS:
        if name in grid:
            value = coordinates.get(name)
            place.append(grid[name].index(value) if value in grid[name] else -1)
    return tuple(place)


def get_sweep(session: Session, tenant_id: str, sweep_id: str) -> SweepView:
    """The tenant's sweep with its members; ``NotFound`` otherwise (also for another tenant's)."""
    sweep = get_owned(session, Sweep, tenant_id, sweep_id, kind="sweep")
    return view_of(sweep, sweep_members(session, sweep.id))


def list_sweeps(session: Session, tenant_id: str, page: PageParams) -> tuple[list[SweepView], bool]:
    """A page of the tenant's sweeps, newest first, each with its members: (sweeps, whether more follow)."""
    sweeps, has_more = page_of(session, Sweep, tenant_id, page)
    members: dict[str, list[Job]] = {sweep.id: [] for sweep in sweeps}
    if members:
        for job in session.scalars(select(Job).where(Job.sweep_id.in_(list(members)))):
            members[str(job.sweep_id)].append(job)
    return [view_of(sweep, members[sweep.id]) for sweep in sweeps], has_more


def member_records(session: Session, view: SweepView) -> list[MemberRecord]:
    """What the report needs of each member: its row's facts and its metrics rows."""
    return [
        MemberRecord(
            job_id=job.id,
            spec=job.spec,
            status=str(job.status),
            result=job.result,
            run_seconds=job.run_seconds,
            metrics=job_reads.job_metrics(session, job.id),
        )
        for job in view.members
    ]


def sweep_report(session: Session, view: SweepView, *, within: float | None = None) -> SweepReport:
    """The sweep's report (``domain.sweeps.sweep_report``) from its members as they stand now;
    ``within`` (points below the teacher's top-1) asks which student is the fastest that close."""
    records = member_records(session, view)
    search = search_rungs.search_of(view.sweep)
    searched = None
    if search is not None:
        decided = search_rungs.decisions(session, view.sweep.id)
        searched = search_report(search, (view.sweep.request or {}).get("trials") or [], records, decided)
    return build_report(view.sweep.id, view.status, records, within=within, search=searched)


def sweep_curves(session: Session, view: SweepView) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Configuration label -> {``seed 1 · job_…``: the member's metrics rows}, in member order."""
    specs = [job.spec for job in view.members]
    curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for job in view.members:
        lines = curves.setdefault(configuration_label(job.spec, specs), {})
        lines[f"seed {job.spec.get('seed')} · {job.id}"] = job_reads.job_metrics(session, job.id)
    return curves
