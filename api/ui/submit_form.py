"""The job form: its choices from the catalog, and from posted text fields to a ``JobCreate``.

Validation is not repeated here: text fields become the JSON body the REST API would get (empty
means "not given"; comma lists become lists) and ``JobCreate`` checks it; the caller then submits
through ``domain.submission.submit_job`` like ``POST /v1/jobs``. Every refusal, from either
step, comes back as ``(param, message)`` so the form can show it next to its field.

Hyper-parameters are pre-filled with ``method_defaults(method)``. A value left as pre-filled is
sent as "not given", so the service resolves it for the chosen student/teacher pair (the paper's
recipe lowers lr for MobileNet/ShuffleNet students and sets DKD beta / NKD gamma per pair).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from sqlalchemy.orm import Session

from api.errors import describe_validation_error
from api.schemas.jobs import JobCreate
from domain import datasets, job_reads, uploaded_models
from domain.errors import DomainError
from domain.ownership import PageParams
from domain.status import JobStatus
from sdd_core.data import list_datasets
from sdd_core.models import list_models
from sdd_core.spec import METHODS, SD_METHODS, DistillationSettings, Hyperparameters, method_defaults

HYPER_PREFIX = "hyperparameters."
TOP_FIELDS = ("dataset", "student", "method", "teacher", "scales", "beta", "seed", "image_size", "metadata")
DATASET_CHOICES_MAX = 500
TEACHER_CHOICES_MAX = 100
_SPLIT = re.compile(r"[\s,]+")

FieldKind = Literal["int", "float", "int_list", "choice", "bool", "text"]


@dataclass(frozen=True)
class HyperField:
    """One hyper-parameter input: ``hyperparameters.<name>``."""

    name: str
    kind: FieldKind
    description: str
    options: tuple[str, ...] = ()

    @property
    def input_name(self) -> str:
        return HYPER_PREFIX + self.name


@dataclass
class FormErrors:
    """Refusals as (param, message); ``for_input`` gives the one shown next to an input."""

    items: list[tuple[str | None, str]] = field(default_factory=list)

    def add(self, param: str | None, message: str) -> None:
        self.items.append((input_for(param), message))

    def for_input(self, name: str) -> str | None:
        return next((message for param, message in self.items if param == name), None)

    def under(self, prefix: str) -> bool:
        """Whether a refusal points at an input whose name starts with ``prefix``."""
        return any(param and param.startswith(prefix) for param, _ in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def _kind(annotation: Any) -> tuple[FieldKind, tuple[str, ...]]:
    inner = [arg for arg in get_args(annotation) if arg is not type(None)] or [annotation]
    base = inner[0]
    if get_origin(base) is Literal:
        return "choice", tuple(str(v) for v in get_args(base))
    if get_origin(base) is list:
        return "int_list", ()
    if base is bool:
        return "bool", ("false", "true")
    return {int: "int", float: "float"}.get(base, "text"), ()  # type: ignore[return-value]


def _hyper_field(name: str, info: FieldInfo) -> HyperField:
    kind, options = _kind(info.annotation)
    return HyperField(name, kind, info.description or "", options)


HYPER_FIELDS: tuple[HyperField, ...] = tuple(
    _hyper_field(name, info) for name, info in Hyperparameters.model_fields.items()
)


def form_text(value: Any) -> str:
    """A value as the form shows it: lists comma-separated, booleans lower-case."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def defaults_by_method() -> dict[str, dict[str, str]]:
    """The pre-filled text of every hyper-parameter input, per method (our JS swaps them)."""
    return {method: {HYPER_PREFIX + k: form_text(v) for k, v in method_defaults(method).items()} for method in METHODS}


def input_for(param: str | None) -> str | None:
    """The form input a refusal's ``param`` points at (``scales[1]`` -> ``scales``)."""
    if not param:
        return None
    name = param.split("[", 1)[0]
    if name.startswith("teacher"):
        return "teacher"
    if name in TOP_FIELDS or (name.startswith(HYPER_PREFIX) and name.count(".") == 1):
        return name
    return None


# ---------------------------------------------------------------- choices


@dataclass(frozen=True)
class FormChoices:
    datasets: list[tuple[str, str]]
    students: list[str]
    methods: list[tuple[str, str]]
    teachers: list[tuple[str, str]]


def form_choices(session: Session, tenant_id: str) -> FormChoices:
    """What the selects offer: the catalog plus this tenant's datasets, succeeded jobs and models."""
    dataset_choices = [(name, name) for name in list_datasets()]
    uploaded, _ = datasets.list_datasets(session, tenant_id, PageParams(limit=DATASET_CHOICES_MAX))
    for ds in uploaded:
        dataset_choices.append((ds.id, f"{ds.name} ({ds.id}, {ds.num_classes} classes)"))
    teachers = [("", "none (method ce)")]
    succeeded, _ = job_reads.list_jobs(session, tenant_id, PageParams(limit=TEACHER_CHOICES_MAX), JobStatus.SUCCEEDED)
    for job in succeeded:
        top1 = (job.result or {}).get("val_top1")
        accuracy = f", top-1 {top1:.2f}%" if isinstance(top1, (int, float)) else ""
        label = f"{job.id}: {job.spec['method']} → {job.spec['student']} on {job.spec['dataset']}{accuracy}"
        teachers.append((f"job:{job.id}", label))
    models, _ = uploaded_models.list_models(session, tenant_id, PageParams(limit=TEACHER_CHOICES_MAX))
    for model in models:
        name = model.name or model.id
        teachers.append((f"model:{model.id}", f"uploaded {name}: {model.arch}, {model.num_classes} classes"))
    methods = [(m, f"{m} (scale decoupled)" if m in SD_METHODS else m) for m in METHODS]
    return FormChoices(datasets=dataset_choices, students=list_models(), methods=methods, teachers=teachers)


def initial_values(choices: FormChoices) -> dict[str, str]:
    """The form as first shown: digits, resnet8, SD-KD when a teacher exists (else ce), defaults."""
    fields = DistillationSettings.model_fields
    method = "sd-kd" if len(choices.teachers) > 1 else "ce"
    values = {
        "dataset": "digits" if "digits" in list_datasets() else choices.datasets[0][0],
        "student": "resnet8" if "resnet8" in choices.students else choices.students[0],
        "method": method,
        "teacher": choices.teachers[1][0] if method != "ce" else "",
        "scales": form_text(fields["scales"].get_default(call_default_factory=True)),
        "beta": form_text(fields["beta"].default),
        "seed": form_text(fields["seed"].default),
        "image_size": "",
        "metadata": "",
    }
    return values | defaults_by_method()[method]


# ---------------------------------------------------------------- posted fields -> JobCreate


def _number_list(text: str) -> list[str]:
    return [part for part in _SPLIT.split(text.strip()) if part]


def request_body(fields: dict[str, str], errors: FormErrors) -> dict[str, Any]:
    """The JSON body ``POST /v1/jobs`` would get for these form fields (parse problems to ``errors``)."""
    body: dict[str, Any] = {}
    for name in ("dataset", "student", "method", "beta", "seed", "image_size"):
        value = fields.get(name, "").strip()
        if value:
            body[name] = value
    if fields.get("scales", "").strip():
        body["scales"] = _number_list(fields["scales"])
    teacher = fields.get("teacher", "").strip()
    kind, _, ref = teacher.partition(":")
    if teacher and (kind not in ("job", "model") or not ref):
        errors.add("teacher", "teacher: choose one of the listed jobs or models, or none")
    body["teacher"] = {kind: ref} if teacher and ref else None
    metadata = fields.get("metadata", "").strip()
    if metadata:
        try:
            body["metadata"] = json.loads(metadata)
        except json.JSONDecodeError as exc:
            errors.add("metadata", f"metadata: not valid JSON ({exc.msg} at character {exc.pos})")
    method = body.get("method")
    pre_filled = defaults_by_method().get(method, {}) if isinstance(method, str) else {}
    hyper: dict[str, Any] = {}
    for spec in HYPER_FIELDS:
        value = fields.get(spec.input_name, "").strip()
        if not value or value == pre_filled.get(spec.input_name):
            continue  # not given: the service's default for this method and pair
        hyper[spec.name] = _number_list(value) if spec.kind == "int_list" else value
    body["hyperparameters"] = hyper
    return body


def parse_job(fields: dict[str, str]) -> tuple[JobCreate | None, FormErrors]:
    """A validated ``JobCreate`` from the form, or None and every refusal."""
    errors = FormErrors()
    body = request_body(fields, errors)
    try:
        spec = JobCreate.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            errors.add(*describe_validation_error(error))
        return None, errors
    return (None, errors) if errors else (spec, errors)


def submission_errors(exc: Exception) -> FormErrors:
    """The refusal ``submit_job`` raised, as form errors."""
    errors = FormErrors()
    if not isinstance(exc, DomainError):
        raise exc
    errors.add(exc.param, exc.message)
    return errors
