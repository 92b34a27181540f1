"""The sweep form: the base job's fields and the grid's values, from posted text to a ``SweepRequest``.

The base job's inputs are the job form's (``api.ui.submit_form``: the same choices, the same first
values, the same text-to-body rules, so no teacher is chosen for the user); the grid's are
checkboxes (methods, students) and lists (β, temperatures and seeds comma-separated, scale lists
separated by ``;``: ``1,2 ; 1,2,4``). Everything ticked or typed there goes into the grid, one
value or several: the grid gives β and scales to the scale-decoupled members only (a KD job
given a β is refused), and each member's name then says its method and student. A list left
empty is the base's default. The body goes as ``POST /v1/sweeps``' would: validated as a
``SweepRequest`` here, submitted through ``domain.sweeps.sweep_submission.submit_sweep``.

Every refusal is shown beside the input its location names: ``("grid", "beta")`` and ``("base",
"beta")`` are both the β input, ``("base", "hyperparameters", "epochs")`` the epochs,
``("grid",)`` the grid as a whole (``input_of``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from api.errors import describe_validation_error
from api.ui.submit_form import HYPER_PREFIX, FormChoices, FormErrors, defaults_by_method, input_for, request_body
from api.ui.submit_form import initial_values as job_initial_values
from domain.errors import Location
from domain.sweeps.sweep_request import SweepGrid, SweepRequest

CHECKED = "on"  # a ticked checkbox's value
GRID_INPUT = "grid"  # where a refusal of the grid as a whole is shown
# The base job's own inputs, named as on the job form.
BASE_INPUTS = (
    "dataset", "teacher", "init", "image_size", f"{HYPER_PREFIX}epochs", f"{HYPER_PREFIX}batch_size",
)  # fmt: skip
TICKED_FIELDS = ("method", "student")  # checkboxes named ``method:kd``, ``student:resnet8``
LIST_FIELDS = ("beta", "temperature", "scales", "seed")  # text inputs: one value or several
NAME_INPUT = "name"  # the sweep's name
SHOWN_INPUTS = frozenset({*BASE_INPUTS, *TICKED_FIELDS, *LIST_FIELDS, NAME_INPUT, GRID_INPUT})
_SPLIT = re.compile(r"[\s,]+")


class SweepFormErrors(FormErrors):
    """The job form's error list, each refusal placed by its location in the sweep request."""

    def at(self, location: Sequence[str | int], message: str) -> None:
        self.items.append((input_of(location), message))

    def in_grid(self) -> str | None:
        """The first refusal of the grid's inputs: the members cannot be counted until it is fixed."""
        grid_inputs = {*TICKED_FIELDS, *LIST_FIELDS, GRID_INPUT}
        return next((message for param, message in self.items if param in grid_inputs), None)


def checkbox_name(field: str, value: str) -> str:
    """``method:kd``: one checkbox per value, each its own form field."""
    return f"{field}:{value}"


def ticked(fields: dict[str, str], field: str) -> list[str]:
    """The values ticked for ``field``, in page order."""
    prefix = checkbox_name(field, "")
    return [name.removeprefix(prefix) for name, value in fields.items() if name.startswith(prefix) and value]


def input_of(location: Sequence[str | int]) -> str | None:
    """The input a location in the sweep request points at; None for a field the form does not show."""
    # list indices point at the same input; pydantic's type tags (``function-after[...]``) at none
    parts = tuple(part for part in location if isinstance(part, str) and not part.endswith("]"))
    if parts[:1] == ("grid",):
        return parts[1] if len(parts) > 1 and parts[1] in SweepGrid.model_fields else GRID_INPUT
    if parts[:1] == ("base",):
        if parts[1:3] == ("hyperparameters", "temperature"):
            return "temperature"
        name = input_for(".".join(parts[1:]))  # the job form's rule: teacher.job is the teacher
        return name if name in SHOWN_INPUTS else None
    return NAME_INPUT if parts == (NAME_INPUT,) else None


def initial_values(choices: FormChoices) -> dict[str, str]:
    """The form as first shown: the job form's base (digits, resnet8, no teacher, 240 epochs) and a
    comparison of KD with SD-KD where a teacher exists (else cross-entropy), one seed."""
    job = job_initial_values(choices)
    methods = ("kd", "sd-kd") if job["method"] != "ce" else ("ce",)
    values = {name: job.get(name, "") for name in BASE_INPUTS}
    values |= {checkbox_name("method", method): CHECKED for method in methods}
    values[checkbox_name("student", job["student"])] = CHECKED
    return values | {"beta": "", "temperature": "", "scales": "", "seed": "0", NAME_INPUT: ""}


def placeholders(choices: FormChoices) -> dict[str, str]:
    """What a list input left empty stands for: the job form's first value, the base's default."""
    job = job_initial_values(choices)
    temperature = defaults_by_method()["kd"][f"{HYPER_PREFIX}temperature"]
    shown = {"beta": job["beta"], "temperature": temperature, "scales": job["scales"], "seed": job["seed"]}
    return {field: f"{value} (default)" for field, value in shown.items()}


def _list_values(field: str, text: str, errors: SweepFormErrors) -> list[Any]:
    """A list input's values: numbers as typed (the request's schema reads them), scale lists as
    lists of whole numbers."""
    if field != "scales":
        return [part for part in _SPLIT.split(text.strip()) if part]
    lists = []
    for group in text.split(";"):
        parts = [part for part in _SPLIT.split(group.strip()) if part]
        if not parts:
            continue
        if not all(part.isascii() and part.isdigit() for part in parts):
            errors.at(
                ("grid", "scales"), "scales: whole numbers, comma-separated; lists separated by ';' (1,2 ; 1,2,4)"
            )
            return []
        lists.append([int(part) for part in parts])
    return lists


def sweep_body(fields: dict[str, str], errors: SweepFormErrors) -> dict[str, Any]:
    """The JSON body ``POST /v1/sweeps`` would get for these form fields (reading problems to ``errors``)."""
    job_fields = {name: fields.get(name, "") for name in BASE_INPUTS}
    grid: dict[str, list[Any]] = {}
    for field in TICKED_FIELDS:
        values = ticked(fields, field)
        if not values:
            errors.at(("grid", field), f"{field}: tick one {field} at least")
        else:
            job_fields[field] = values[0]  # the base's, as the API would take it from the grid
            grid[field] = values
    for field in LIST_FIELDS:
        values = _list_values(field, fields.get(field, ""), errors)
        if values:
            grid[field] = values
    job_errors = FormErrors()
    base = request_body(job_fields, job_errors)
    for param, message in job_errors.items:
        errors.at(("base", *(param or "").split(".")), message)
    body: dict[str, Any] = {"base": base, "grid": grid}
    if fields.get(NAME_INPUT, "").strip():
        body[NAME_INPUT] = fields[NAME_INPUT]
    return body


def parse_sweep(fields: dict[str, str]) -> tuple[SweepRequest | None, dict[str, Any], SweepFormErrors]:
    """A validated ``SweepRequest`` from the form (None when refused), its body, and every refusal
    (one per input: a schema error after the form's own for the same input is left out)."""
    errors = SweepFormErrors()
    body = sweep_body(fields, errors)
    try:
        request = SweepRequest.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            location: Location = tuple(error.get("loc", ()))
            if errors.for_input(input_of(location) or "") is None:
                errors.at(location, describe_validation_error(error)[1])
        return None, body, errors
    return (None, body, errors) if errors else (request, body, errors)
