"""Which jobs can train together in one lockstep group: the one rule, for the trainer and the service.

Students of a group draw the same batches (the same data, in the same order, with the same
augmentation) and share one teacher and one machine, so they must agree on every spec field in
``LOCKSTEP_FIELDS``:

- the spec fields that decide the data and the teacher (``LOCKSTEP_SPEC_FIELDS``);
- every hyper-parameter but the step-only ones (``sdd_core.methods.STEP_ONLY_HYPERPARAMETERS``:
  optimiser, schedule, loss weights, early stopping, export). A hyper-parameter added to
  ``Hyperparameters`` is a lockstep field unless it is declared step-only there.

They may differ in method, student, scales, beta and the step-only hyper-parameters. The trainer
refuses a group whose members disagree (``sdd_core.trainer.lockstep_key``); the job service gives
sweep members that agree one ``jobs.group_key`` (``domain.sweeps.sweep_submission.group_key``).
Both read the values with ``lockstep_values``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sdd_core.methods import STEP_ONLY_HYPERPARAMETERS, Hyperparameters

LOCKSTEP_SPEC_FIELDS: tuple[str, ...] = ("dataset", "teacher", "seed", "image_size", "protocol", "holdout_fraction")
"""The spec fields outside the hyper-parameters that decide which batches a student draws."""

LOCKSTEP_HYPERPARAMETERS: tuple[str, ...] = tuple(
    name for name in Hyperparameters.model_fields if name not in STEP_ONLY_HYPERPARAMETERS
)
"""Every hyper-parameter but the step-only ones (epochs, batch size, augmentation, device, ...)."""

LOCKSTEP_FIELDS: tuple[str, ...] = LOCKSTEP_SPEC_FIELDS + tuple(
    f"hyperparameters.{name}" for name in LOCKSTEP_HYPERPARAMETERS
)
"""Dotted paths into a spec as JSON: what the members of one lockstep group agree on."""


def lockstep_values(spec: Mapping[str, Any]) -> dict[str, Any]:
    """{dotted path: value} of ``LOCKSTEP_FIELDS`` in a spec as JSON (``spec.model_dump(mode="json")``
    or a stored spec); None where the spec lacks the field. Equal for two specs that can train together."""
    return {path: _field(spec, path) for path in LOCKSTEP_FIELDS}


def disagreeing_fields(specs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ``LOCKSTEP_FIELDS`` on which ``specs`` (as JSON) do not all agree, for an error message."""
    values = [lockstep_values(spec) for spec in specs]
    return [path for path in LOCKSTEP_FIELDS if any(other[path] != values[0][path] for other in values[1:])]


def _field(spec: Mapping[str, Any], path: str) -> Any:
    value: Any = spec
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value
