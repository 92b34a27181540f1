"""The search part of a sweep's report: each trial's values and rung, the rungs, and what the search
cost against the grid it replaces. Pure functions over member records and rung decisions.

Images trained (a trial's student steps × batch): over its recorded epochs, each epoch's
``images_per_s × seconds`` (the images its step saw), plus, for a pruned trial, the batches it
trained of the epoch it stopped in (``result.batches × batch_size``). The grid it replaces trains
every trial to the end: trials × epochs × the images of one full epoch. The teacher's forward,
shared by the trials of a lockstep group, is not counted on either side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from domain.sweeps.search_rungs import RungDecision
from domain.sweeps.sweep_search import SweepSearch, rung_epochs


@dataclass(frozen=True)
class TrialReport:
    """One trial: the values drawn for it, how far it went and what it reached."""

    job_id: str
    trial: Annotated[int, Field(description="The trial's number, from 1.")]
    values: Annotated[dict[str, Any], Field(description="The values drawn: student, scales, beta, temperature.")]
    status: str
    rungs_passed: Annotated[int, Field(description="Rungs it went on from (0: pruned at the first, or not there yet).")]
    pruned_at_rung: Annotated[int | None, Field(description="The rung (from 1) that pruned it, if one did.")]
    rung_top1: Annotated[list[float | None], Field(description="Its val top-1 at each rung's epoch it reached.")]
    epochs: Annotated[int, Field(description="Epochs it finished.")]
    val_top1: Annotated[
        float | None, Field(description="Its last recorded val top-1 (the final one when it succeeded).")
    ]
    test_top1: Annotated[float | None, Field(description="Test top-1 of its exported student (held_out, succeeded).")]
    images_trained: int


@dataclass(frozen=True)
class RungReport:
    rung: Annotated[int, Field(description="From 1.")]
    epoch: int
    decided: bool
    contenders: int
    kept: list[str]
    pruned: list[str]
    lowest_kept_top1: float | None


@dataclass(frozen=True)
class SearchReport:
    """How the search went: trials, rungs and cost (``GET /v1/sweeps/{id}/report`` → ``search``)."""

    trials: list[TrialReport]
    rungs: list[RungReport]
    sampler: str
    rule: Annotated[str, Field(description="The pruning rule, stated.")]
    images_trained: Annotated[int, Field(description="Student images trained by every trial so far.")]
    grid_images: Annotated[int | None, Field(description="What training every trial to the end costs.")]
    fraction_of_grid: float | None
    best: Annotated[str | None, Field(description="The trial with the highest final val top-1 among the finished.")]


def rule_text(search: SweepSearch, epochs: int) -> str:
    pruning = search.pruning
    if pruning is None:
        return "no pruning: every trial trains to the end"
    rungs = rung_epochs(epochs, pruning)
    eta = pruning.reduction_factor
    at = ", ".join(str(epoch) for epoch in rungs) or "none (the first rung is not before the last epoch)"
    return (
        f"successive halving on val top-1, η = {eta}: rungs at the end of epochs {at}; each rung keeps the "
        f"best max(1, n // {eta}) of the n trials that reached it (equal top-1: the lower val loss), decided once all have reported"
    )


def member_images(metrics: Sequence[Mapping[str, Any]], result: Mapping[str, Any] | None, batch_size: int) -> int:
    """The images a member's student trained: its recorded epochs, plus a pruned trial's partial epoch."""
    total = sum(_epoch_images(row) for row in metrics)
    if result and isinstance(result.get("batches"), int):
        total += int(result["batches"]) * batch_size
    return total


def _epoch_images(row: Mapping[str, Any]) -> int:
    rate, seconds = row.get("images_per_s"), row.get("seconds")
    if isinstance(rate, (int, float)) and isinstance(seconds, (int, float)):
        return round(rate * seconds)
    return 0


def search_report(
    search: SweepSearch,
    trials: Sequence[Mapping[str, Any]],
    members: Sequence[Any],
    decisions: Sequence[RungDecision],
) -> SearchReport:
    """``members``: the sweep's ``MemberRecord``s in trial order (``trials[i]`` drawn for ``members[i]``)."""
    epochs = int((members[0].spec.get("hyperparameters") or {}).get("epochs") or 0) if members else 0
    rungs = rung_epochs(epochs, search.pruning)
    decided = {decision.rung: decision for decision in decisions}
    full_epoch = max((_epoch_images(row) for member in members for row in member.metrics), default=0)
    reports = []
    for index, member in enumerate(members):
        by_epoch = {row.get("epoch"): row for row in member.metrics}
        passed, pruned_at = 0, None
        for rung in range(len(rungs)):
            decision = decided.get(rung)
            if decision is None:
                break
            if member.job_id in decision.kept:
                passed += 1
            elif member.job_id in decision.pruned:
                pruned_at = rung + 1
                break
        last = member.metrics[-1] if member.metrics else {}
        result = member.result or {}
        batch_size = int((member.spec.get("hyperparameters") or {}).get("batch_size") or 0)
        reports.append(
            TrialReport(
                job_id=member.job_id,
                trial=index + 1,
                values=dict(trials[index]) if index < len(trials) else {},
                status=member.status,
                rungs_passed=passed,
                pruned_at_rung=pruned_at,
                rung_top1=[by_epoch[epoch].get("val_top1") for epoch in rungs if epoch in by_epoch],
                epochs=len(member.metrics),
                val_top1=result.get("val_top1", last.get("val_top1")),
                test_top1=result.get("test_top1") if member.status == "succeeded" else None,
                images_trained=member_images(member.metrics, result if member.status == "pruned" else None, batch_size),
            )
        )
    finished = [t for t in reports if t.status == "succeeded" and t.val_top1 is not None]
    best = max(finished, key=lambda t: t.val_top1 or 0.0).job_id if finished else None
    images = sum(t.images_trained for t in reports)
    grid = len(members) * epochs * full_epoch if full_epoch else None
    return SearchReport(
        trials=reports,
        rungs=[_rung_report(rung, epoch, decided.get(rung)) for rung, epoch in enumerate(rungs)],
        sampler=search.sampler,
        rule=rule_text(search, epochs),
        images_trained=images,
        grid_images=grid,
        fraction_of_grid=round(images / grid, 4) if grid else None,
        best=best,
    )


def _rung_report(rung: int, epoch: int, decision: RungDecision | None) -> RungReport:
    if decision is None:
        return RungReport(rung + 1, epoch, False, 0, [], [], None)
    return RungReport(rung + 1, epoch, True, len(decision.values), decision.kept, decision.pruned, decision.lowest_kept)
