"""The job form's estimated training time, from the speeds this service measured (``domain.jobs.speed_estimates``).

The page carries the measurements and the datasets' sizes as JSON (``estimate_data``) for ui.js to
estimate again when the dataset, student, method, image size or epochs change, and the estimate
for the values it is shown with (``form_estimate``): its line, the warning shown above
``WARN_SECONDS`` (or, with nothing measured, above ``WARN_EPOCHS_UNMEASURED`` epochs) and the
submit button's label ("Start a ~2.3 h job"), so a long run is never submitted unseen. The same
words, so the page reads the same without JS: keep ``estimateOf``, ``warningText``, ``buttonText``
and ``duration`` in ui.js in step with this module. ``run_estimate`` is one job's; the sweep form
sums it over its members (``api.ui.sweep_estimate``).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from domain.jobs.speed_estimates import DatasetSize, Estimate, SpeedMeasurements

NO_EPOCHS = "give the number of epochs for an estimate"
WARN_SECONDS = 600  # an estimate above 10 min is a warning next to the submit button
WARN_EPOCHS_UNMEASURED = 20  # with nothing measured, more epochs than this are warned about
_DIGITS = re.compile(r"\s*[0-9]+\s*")


def _half_up(value: float) -> int:
    """Rounded as JavaScript's ``Math.round`` rounds a positive number (not to even)."""
    return math.floor(value + 0.5)


def humane_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``2.5 h``, ``31 h``: seconds below a minute, minutes below an hour."""
    if seconds < 59.5:
        return f"{max(1, _half_up(seconds))} s"
    if seconds < 3570:  # rounds to 60 min from here: shown as 1 h
        return f"{_half_up(seconds / 60)} min"
    hours = seconds / 3600
    return f"{_half_up(hours * 10) / 10:g} h" if hours < 9.95 else f"{_half_up(hours)} h"


def positive_int(text: str | None) -> int | None:
    """A form's whole number above 0 (``" 12 "``), or None for anything else."""
    return int(text) if text and _DIGITS.fullmatch(text) and int(text) > 0 else None


def epochs_text(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def estimate_data(measurements: SpeedMeasurements, sizes: dict[str, DatasetSize]) -> dict[str, Any]:
    """What ui.js estimates from: the measurements and each dataset's size, by the form's value."""
    return {
        "speeds": [asdict(speed) for speed in measurements.speeds],
        "throughput": [asdict(rate) for rate in measurements.throughput],
        "datasets": {value: asdict(size) for value, size in sizes.items()},
        "warn_seconds": WARN_SECONDS,
        "warn_epochs_unmeasured": WARN_EPOCHS_UNMEASURED,
    }


@dataclass(frozen=True)
class FormEstimate:
    """The form's estimate: its line, and the seconds and epochs it is of (None when unknown)."""

    text: str
    seconds: float | None
    epochs: int | None

    @property
    def warning(self) -> str | None:
        """What the page says prominently before a long run is submitted; None for a short one."""
        if self.epochs is None:
            return None
        if self.seconds is not None:
            if self.seconds <= WARN_SECONDS:
                return None
            return (
                f"A long job: about {humane_duration(self.seconds)} of training for {epochs_text(self.epochs)}. "
                "Lower Epochs to try a setting out first."
            )
        if self.epochs <= WARN_EPOCHS_UNMEASURED:
            return None
        return (
            f"{epochs_text(self.epochs)} and no job of this kind measured here yet: it may take hours. "
            "Train a few epochs first to measure it."
        )

    @property
    def button(self) -> str:
        """The submit button's label: the run it starts."""
        if self.seconds is not None:
            return f"Start a ~{humane_duration(self.seconds)} job"
        return f"Start a {self.epochs}-epoch job" if self.epochs is not None else "Submit job"


def run_estimate(
    measurements: SpeedMeasurements, sizes: dict[str, DatasetSize], values: dict[str, str], epochs: int
) -> Estimate | None:
    """The training time of ``epochs`` epochs of the job the form's ``values`` describe (its dataset,
    student, method and image size), or None where nothing of its kind was measured."""
    dataset = values.get("dataset", "")
    size = sizes.get(dataset)
    image_size = positive_int(values.get("image_size")) or (size.image_size if size else None)
    if image_size is None:
        return None
    return measurements.estimate(
        dataset=dataset,
        student=values.get("student", ""),
        distilled=values.get("method", "") != "ce",
        epochs=epochs,
        image_size=image_size,
        train_size=size.train_size if size else None,
    )


def unmeasured_text(sizes: dict[str, DatasetSize], values: dict[str, str]) -> str:
    """``no measurement yet for resnet20 on digits``: why the form's job has no estimate."""
    dataset = values.get("dataset", "")
    size = sizes.get(dataset)
    return f"no measurement yet for {values.get('student', '')} on {size.name if size else dataset}"


def jobs_text(count: int) -> str:
    return f"{count} job" if count == 1 else f"{count} jobs"


def measured_text(estimate: Estimate, student: str) -> str:
    """What an estimate was taken from: ``measured over 12 epochs of 3 jobs``, or the student's images/s elsewhere."""
    measured = f"measured over {epochs_text(estimate.epochs_measured)} of {jobs_text(estimate.jobs_measured)}"
    if estimate.basis == "student":
        measured = f"from {student}'s images/s on other datasets, {measured}"
    return measured


def form_estimate(
    measurements: SpeedMeasurements, sizes: dict[str, DatasetSize], values: dict[str, str]
) -> FormEstimate:
    """``≈ 3 min on this service (measured over 12 epochs of 3 jobs)``, or why there is no estimate."""
    epochs = positive_int(values.get("hyperparameters.epochs"))
    if epochs is None:
        return FormEstimate(NO_EPOCHS, None, None)
    estimate = run_estimate(measurements, sizes, values, epochs)
    if estimate is None:
        return FormEstimate(unmeasured_text(sizes, values), None, epochs)
    measured = measured_text(estimate, values.get("student", ""))
    return FormEstimate(f"≈ {humane_duration(estimate.seconds)} on this service ({measured})", estimate.seconds, epochs)
