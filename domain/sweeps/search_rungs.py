"""A search's rungs, decided in SQL: ``settle_rungs`` takes every decision its members' epochs allow.

A search (``domain.sweeps.sweep_search``) has rungs at fixed epochs. Rung k is decided once every
trial still in the search (not pruned at an earlier rung) has recorded its val top-1 at the rung's
epoch, or has finished without reaching it (failed, cancelled, stopped early: it is left out).
The best ``max(1, n // η)`` go on (by val top-1; ties by val loss, then trial order); the others
are pruned:

- a queued trial (waiting for a worker, or handed back by one) ends ``pruned`` at once;
- a running one gets ``jobs.prune_reason``: its worker reads it at its next batch, stops, and
  records ``pruned`` (``worker.runner``); a worker that dies first leaves it to the reaper, and one
  that shuts down to ``transitions.release``, which both end it ``pruned`` instead of re-queuing it.

Who calls it: a worker after each epoch it records for a search's trial, when a trial ends, and
when it starts an attempt (so a rung whose last report landed just before a crash is decided by
the next attempt); and a user's cancel. Any of them may decide: the decision is a pure function
of the recorded epochs, and the row ``sweep_rungs(sweep, rung)`` is written once (a second
writer's INSERT fails, it rolls back and reads the first one's). Decisions are never taken
again: a trial resumed after a crash finds its rung decided and its fellow trials pruned.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.jobs.transitions import record_event, transition
from domain.status import TERMINAL, JobStatus
from domain.sweeps.sweep_search import SweepSearch, kept_count, rung_epochs
from service.db.models import Job, JobMetric, Sweep, SweepRung, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RungDecision:
    """Rung ``rung`` (the end of epoch ``epoch``): each contender's val top-1, who went on, who was pruned."""

    rung: int
    epoch: int
    values: dict[str, float | None]
    kept: list[str]
    pruned: list[str]
    losses: dict[str, float | None] = field(default_factory=dict)  # val loss at the rung: breaks ties in top-1

    @property
    def lowest_kept(self) -> float | None:
        kept = [self.values[job_id] for job_id in self.kept if self.values.get(job_id) is not None]
        return min(kept) if kept else None  # type: ignore[type-var]

    def as_json(self) -> dict[str, Any]:
        return {"values": self.values, "losses": self.losses, "kept": self.kept, "pruned": self.pruned}

    def reason(self, job_id: str) -> str:
        """Why ``job_id`` was pruned here, as its status reason and event say it."""
        value, lowest = self.values.get(job_id), self.lowest_kept
        shown = "no val top-1" if value is None else f"val top-1 {value:.2f}%"
        floor = "" if lowest is None else f" (the lowest kept {lowest:.2f}%)"
        return (
            f"pruned at rung {self.rung + 1} (epoch {self.epoch}): {shown} was not among the best "
            f"{len(self.kept)} of {len(self.values)}{floor}"
        )

    def went_on(self, job_id: str) -> str:
        value = self.values.get(job_id)
        shown = "no val top-1" if value is None else f"val top-1 {value:.2f}%"
        return f"rung {self.rung + 1} (epoch {self.epoch}): went on with {shown}, one of the best {len(self.kept)} of {len(self.values)}"


def decide(
    rung: int,
    epoch: int,
    values: Mapping[str, float | None],
    reduction_factor: int,
    losses: Mapping[str, float | None] | None = None,
) -> RungDecision:
    """The successive-halving rule on one rung (``sweep_search``): exactly ``max(1, n // η)`` trials go
    on, the highest val top-1 first; equal top-1s (a small validation split has few values) are
    ordered by the lower val loss, then by trial order (``values``' order). A missing or non-finite
    top-1 never goes on."""
    losses = dict(losses or {})
    order = {job_id: index for index, job_id in enumerate(values)}

    def rank(job_id: str) -> tuple[float, float, int]:
        loss = losses.get(job_id)
        return (-(values[job_id] or 0.0), loss if _finite(loss) else math.inf, order[job_id])  # type: ignore[return-value]

    finite = sorted((job_id for job_id, value in values.items() if _finite(value)), key=rank)
    chosen = set(finite[: kept_count(len(values), reduction_factor)])
    kept = [job_id for job_id in values if job_id in chosen]
    pruned = [job_id for job_id in values if job_id not in chosen]
    return RungDecision(rung, epoch, dict(values), kept, pruned, losses)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def search_of(sweep: Sweep) -> SweepSearch | None:
    """The sweep's search, or None for a grid."""
    stored = (sweep.request or {}).get("search")
    return None if stored is None else SweepSearch.model_validate(stored)


def decisions(session: Session, sweep_id: str) -> list[RungDecision]:
    """The rungs decided so far, in order."""
    rows = session.scalars(select(SweepRung).where(SweepRung.sweep_id == sweep_id).order_by(SweepRung.rung))
    return [_decision_of(row) for row in rows]


def settle_rungs(session: Session, sweep_id: str) -> list[RungDecision]:
    """Decide every rung of the sweep's search that can be decided now and apply every decision
    (idempotent); the rungs decided by this call. Commits. A grid, or a search without pruning: nothing."""
    sweep = session.get(Sweep, sweep_id)
    search = search_of(sweep) if sweep is not None else None
    if search is None or search.pruning is None:
        return []
    members = list(session.scalars(select(Job).where(Job.sweep_id == sweep_id).order_by(Job.created_at, Job.id)))
    if not members:
        return []
    rungs = rung_epochs(members[0].epochs, search.pruning)
    taken = {decision.rung: decision for decision in decisions(session, sweep_id)}
    new: list[RungDecision] = []
    out: set[str] = set()  # pruned at an earlier rung
    for rung, epoch in enumerate(rungs):
        decision = taken.get(rung)
        if decision is None:
            reported = _rung_values(session, members, out, epoch)
            if reported is None:  # a trial still on its way to this rung
                break
            values, losses = reported
            decision = decide(rung, epoch, values, search.pruning.reduction_factor, losses)
            if not _record(session, sweep_id, decision, members):
                session.rollback()  # another process decided it first: its decision stands
                decision = {d.rung: d for d in decisions(session, sweep_id)}[rung]
            else:
                new.append(decision)
        out |= set(decision.pruned)
    _apply(session, members, {**taken, **{d.rung: d for d in new}})
    session.commit()
    return new


def _rung_values(
    session: Session, members: Sequence[Job], out: set[str], epoch: int
) -> tuple[dict[str, float | None], dict[str, float | None]] | None:
    """{trial: val top-1 at ``epoch``} of the trials still in the search that reached it; None while
    one that has not is still on its way (queued, running)."""
    contenders = [job for job in members if job.id not in out]
    rows = session.execute(
        select(JobMetric.job_id, JobMetric.data).where(
            JobMetric.job_id.in_([job.id for job in contenders]), JobMetric.epoch == epoch
        )
    ).all()
    reported = {job_id: data for job_id, data in rows}
    values: dict[str, float | None] = {}
    losses: dict[str, float | None] = {}
    for job in contenders:
        session.refresh(job)  # its status now, not when the list was read
        if job.id in reported:
            value = reported[job.id].get("val_top1")
            loss = reported[job.id].get("val_loss")
            values[job.id] = float(value) if isinstance(value, (int, float)) else None
            losses[job.id] = float(loss) if isinstance(loss, (int, float)) else None
        elif job.status not in TERMINAL:
            return None
    return values, losses


def _record(session: Session, sweep_id: str, decision: RungDecision, members: Sequence[Job]) -> bool:
    """Write the decision's row and its events; False if another writer's row was there first."""
    session.add(SweepRung(sweep_id=sweep_id, rung=decision.rung, epoch=decision.epoch, decision=decision.as_json()))
    try:
        session.flush()
    except IntegrityError:
        return False
    for job_id in decision.kept:
        record_event(
            session, job_id, "rung", decision.went_on(job_id), {"rung": decision.rung + 1, "epoch": decision.epoch}
        )
    try:
        session.commit()
    except IntegrityError:
        return False
    log.info(
        "sweep %s: rung %d (epoch %d) decided: %d of %d went on, pruned %s",
        sweep_id,
        decision.rung + 1,
        decision.epoch,
        len(decision.kept),
        len(decision.values),
        ", ".join(decision.pruned) or "none",
    )
    return True


def _apply(session: Session, members: Sequence[Job], taken: Mapping[int, RungDecision]) -> None:
    """Every pruned trial that is still queued ends ``pruned``; a running one is asked to stop."""
    by_id = {job.id: job for job in members}
    now = utcnow()
    for decision in taken.values():
        for job_id in decision.pruned:
            job = by_id.get(job_id)
            if job is None or job.status in TERMINAL or job.prune_reason is not None:
                continue
            reason = decision.reason(job_id)
            data = {"rung": decision.rung + 1, "epoch": decision.epoch, "val_top1": decision.values.get(job_id)}
            if transition(
                session,
                Job.id == job_id,
                Job.status == JobStatus.QUEUED,
                status=JobStatus.PRUNED,
                prune_reason=reason,
                finished_at=now,
                updated_at=now,
            ):
                record_event(session, job_id, "pruned", reason, data)
            elif transition(
                session, Job.id == job_id, Job.status == JobStatus.RUNNING, Job.prune_reason.is_(None),
                prune_reason=reason, updated_at=now,
            ):  # fmt: skip
                record_event(session, job_id, "pruning", f"{reason}; stopping at its next batch", data)


def _decision_of(row: SweepRung) -> RungDecision:
    decision = row.decision or {}
    return RungDecision(
        rung=row.rung,
        epoch=row.epoch,
        values=dict(decision.get("values") or {}),
        losses=dict(decision.get("losses") or {}),
        kept=list(decision.get("kept") or []),
        pruned=list(decision.get("pruned") or []),
    )
