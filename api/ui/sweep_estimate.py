"""What the sweep form says before it is sent: how many member jobs, and how long they train.

The count is ``domain.sweeps.sweep_request.member_count``'s, of the form's grid validated alone (so
a base still missing its teacher does not hide it); the server's answer on submit stays the truth.
The time is the job form's estimate (``api.ui.submit_estimate``: this service's measured speeds)
of each kind of member — ``member_count`` of the sweep narrowed to one method and one student —
times its members, summed, with the warning above ``WARN_SECONDS`` and the submit button's label
saying the run it starts. The page shows ``SweepPreview`` as rendered; sweep_form.js asks for it
again (``as_json``) as the choices change, so both read the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from api.errors import describe_validation_error
from api.ui.submit_estimate import (
    NO_EPOCHS,
    WARN_EPOCHS_UNMEASURED,
    WARN_SECONDS,
    epochs_text,
    humane_duration,
    measured_text,
    positive_int,
    run_estimate,
    unmeasured_text,
)
from domain.jobs.job_request import JobRequest
from domain.jobs.speed_estimates import DatasetSize, SpeedMeasurements
from domain.sweeps.sweep_request import SweepGrid, SweepRequest, member_count

NO_MEMBERS = "no estimate until the member jobs can be counted"


def jobs_text(count: int) -> str:
    return f"{count} job" if count == 1 else f"{count} jobs"


def runs_text(jobs: int, epochs: int) -> str:
    """``4 jobs × 240 epochs``: what an estimate counts."""
    return f"{jobs_text(jobs)} × {epochs_text(epochs)}"


def counted_sweep(body: dict[str, Any]) -> SweepRequest | str:
    """The sweep as far as counting its members needs (the grid validated, the base's method and
    student), or why its members cannot be counted yet."""
    base = body.get("base") or {}
    for field in ("method", "student"):
        if not base.get(field):
            return f"tick one {field} at least"
    try:
        grid = SweepGrid.model_validate(body.get("grid") or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        return describe_validation_error({**error, "loc": ("grid", *error.get("loc", ()))})[1]
    # not validated here (a teacher may still be missing): member_count reads the method alone
    job = JobRequest.model_construct(
        dataset=str(base.get("dataset", "")), method=base["method"], student=base["student"]
    )
    return SweepRequest.model_construct(base=job, grid=grid)


def members_by_kind(sweep: SweepRequest) -> dict[tuple[str, str], int]:
    """Members per (method, student): ``member_count`` of the sweep narrowed to each pair."""
    grid = sweep.grid
    if grid is None:
        return {}
    counts: dict[tuple[str, str], int] = {}
    for method in grid.method or [sweep.base.method]:
        for student in grid.student or [sweep.base.student]:
            narrowed = grid.model_copy(update={"method": [method], "student": [student]})
            counts[(method, student)] = member_count(sweep.model_copy(update={"grid": narrowed}))
    return counts


@dataclass(frozen=True)
class SweepEstimate:
    """The sweep's estimate: its line, the seconds (None when unknown), the jobs and each one's epochs."""

    text: str
    seconds: float | None
    jobs: int | None
    epochs: int | None

    @property
    def warning(self) -> str | None:
        """What the page says prominently before a long sweep is submitted; None for a short one."""
        if self.jobs is None or self.epochs is None:
            return None
        if self.seconds is not None:
            if self.seconds <= WARN_SECONDS:
                return None
            return (
                f"A long sweep: about {humane_duration(self.seconds)} of training for {runs_text(self.jobs, self.epochs)}. "
                "Lower Epochs or sweep fewer values to try it out first."
            )
        if self.jobs * self.epochs <= WARN_EPOCHS_UNMEASURED:
            return None
        return (
            f"{runs_text(self.jobs, self.epochs)}, and not every kind of job measured here yet: it may take hours. "
            "Train a few epochs first to measure it."
        )

    @property
    def button(self) -> str:
        """The submit button's label: the run it starts."""
        if self.jobs is None:
            return "Submit sweep"
        if self.seconds is not None:
            return f"Start a ~{humane_duration(self.seconds)} sweep of {jobs_text(self.jobs)}"
        return (
            f"Start {runs_text(self.jobs, self.epochs)}"
            if self.epochs is not None
            else f"Start a sweep of {jobs_text(self.jobs)}"
        )


def sweep_estimate(
    measurements: SpeedMeasurements,
    sizes: dict[str, DatasetSize],
    values: dict[str, str],
    kinds: dict[tuple[str, str], int],
) -> SweepEstimate:
    """``≈ 24 min on this service for 4 jobs × 240 epochs (measured over 12 epochs)``, or why there is none."""
    if not kinds:
        return SweepEstimate(NO_MEMBERS, None, None, None)
    jobs = sum(kinds.values())
    epochs = positive_int(values.get("hyperparameters.epochs"))
    if epochs is None:
        return SweepEstimate(NO_EPOCHS, None, jobs, None)
    seconds = 0.0
    how: list[str] = []
    unmeasured: dict[str, int] = {}
    for (method, student), count in kinds.items():
        kind = values | {"method": method, "student": student}
        estimate = run_estimate(measurements, sizes, kind, epochs)
        if estimate is None:
            reason = unmeasured_text(sizes, kind)
            unmeasured[reason] = unmeasured.get(reason, 0) + count
            continue
        seconds += count * estimate.seconds
        if (measured := measured_text(estimate, student)) not in how:
            how.append(measured)
    if unmeasured:
        reason, count = next(iter(unmeasured.items()))
        share = f" ({count} of its {jobs_text(jobs)})" if count < jobs else ""
        return SweepEstimate(f"{reason}{share}", None, jobs, epochs)
    said = how[0] if len(how) == 1 else "each kind of job measured on its own"
    text = f"≈ {humane_duration(seconds)} on this service for {runs_text(jobs, epochs)} ({said})"
    return SweepEstimate(text, seconds, jobs, epochs)


@dataclass(frozen=True)
class SweepPreview:
    """The member count (or why it is not known yet) and the estimate, as the page shows them."""

    members: int | None
    members_text: str
    over_limit: bool
    estimate: SweepEstimate

    def as_json(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "members_text": self.members_text,
            "over_limit": self.over_limit,
            "estimate": self.estimate.text,
            "warning": self.estimate.warning,
            "button": self.estimate.button,
        }


def sweep_preview(
    measurements: SpeedMeasurements,
    sizes: dict[str, DatasetSize],
    values: dict[str, str],
    body: dict[str, Any],
    grid_problem: str | None,
    max_members: int,
) -> SweepPreview:
    """The preview of the sweep the form's ``body`` makes (``api.ui.sweep_form.parse_sweep``: its
    body, and the first refusal of its grid's inputs)."""
    sweep = grid_problem or counted_sweep(body)
    if isinstance(sweep, str):
        estimate = sweep_estimate(measurements, sizes, values, {})
        return SweepPreview(None, f"not known yet: {sweep}", False, estimate)
    count = member_count(sweep)
    estimate = sweep_estimate(measurements, sizes, values, members_by_kind(sweep))
    if count > max_members:
        text = f"{count} member jobs: over this service's limit of {max_members} per sweep; sweep fewer values"
        return SweepPreview(count, text, True, estimate)
    return SweepPreview(count, f"{jobs_text(count)} (at most {max_members} per sweep here)", False, estimate)
