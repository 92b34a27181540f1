"""The job form: its choices from the catalog, and from posted text fields to a ``JobCreate``.

Validation is not repeated here: text fields become the JSON body the REST API would get (empty
means "not given"; comma lists become lists) and ``JobCreate`` checks it; the caller then submits
through ``domain.jobs.submission.submit_job`` like ``POST /v1/jobs``. Every refusal, from either
step, comes back as ``(param, message)`` so the form can show it next to its field.

``request_values`` goes the other way, from a request body to the form's text: the "Clone" form
shows a job's copy (``domain.jobs.cloning``) through it.

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
from domain.datasets import uploaded_datasets
from domain.datasets.builtin_datasets import DATA_ROOT_SETTING, DOWNLOAD_SETTING, BuiltinDataset, builtin_datasets
from domain.errors import DomainError
from domain.jobs import job_reads
from domain.jobs.cloning import JobCopy
from domain.jobs.job_request import NAME_MAX_CHARS
from domain.models import uploaded_models
from domain.ownership import PageParams
from domain.status import DatasetStatus, JobStatus
from sdd_core import models as zoo  # the zoo (torch) loads with the first form shown
from sdd_core.data import list_datasets
from sdd_core.spec import (
    DEFAULT_BETA,
    DEFAULT_SCALES,
    METHODS,
    SD_METHODS,
    DistillationSettings,
    Hyperparameters,
    method_defaults,
)
from service.db.models import Job
from service.settings import Settings

HYPER_PREFIX = "hyperparameters."
TOP_FIELDS = (
    "dataset", "student", "method", "teacher", "init", "scales", "beta", "seed", "image_size", "metadata", "name",
    "tags",
)  # fmt: skip
PRETRAINED = "pretrained"  # the teacher select's "pretrained:<arch>" values, and the init select's value
DATASET_CHOICES_MAX = 500
TEACHER_CHOICES_MAX = 100
COPY_SUFFIX = " (copy)"  # the name a clone of a named job is offered
NO_TEACHER = "none: choose a teacher for every method but ce"
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

    def under(self, prefix: str, but: tuple[str, ...] = ()) -> bool:
        """Whether a refusal points at an input whose name starts with ``prefix`` (other than ``but``)."""
        return any(param and param.startswith(prefix) and param not in but for param, _ in self.items)

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
HYPER_NAMES = frozenset(f.name for f in HYPER_FIELDS)


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
    if name.startswith("init"):
        return "init"
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
    inits: list[tuple[str, str]]
    unavailable: frozenset[str] = frozenset()  # built-in datasets listed but not on this server: not selectable
    dataset_note: str | None = None  # why they are not, and what an operator changes

    def offering(self, values: dict[str, str]) -> FormChoices:
        """These choices plus the dataset and teacher ``values`` name where the lists leave them out
        (a teacher older than the newest succeeded jobs, say), so a select never shows another one;
        the dataset ``values`` name stays selectable even when it is not on this server (a clone's:
        submitting it says why)."""
        datasets, teachers, inits = list(self.datasets), list(self.teachers), list(self.inits)
        for options, value in (
            (datasets, values.get("dataset", "")),
            (teachers, values.get("teacher", "")),
            (inits, values.get("init", "")),
        ):
            if value and value not in {v for v, _ in options}:
                options.append((value, value))
        unavailable = self.unavailable - {values.get("dataset", "")}
        return FormChoices(
            datasets, self.students, self.methods, teachers, inits, frozenset(unavailable), self.dataset_note
        )


def form_choices(session: Session, settings: Settings, tenant_id: str) -> FormChoices:
    """What the selects offer: the catalog plus this tenant's datasets, succeeded jobs and models;
    the built-in datasets not on this server are listed as such, not selectable."""
    builtins = builtin_datasets(settings)
    dataset_choices = [(ds.name, builtin_label(ds)) for ds in builtins]
    missing = [ds.name for ds in builtins if not ds.available]
    uploaded, _ = uploaded_datasets.list_datasets(
        session, tenant_id, PageParams(limit=DATASET_CHOICES_MAX), DatasetStatus.READY
    )
    for ds in uploaded:
        dataset_choices.append((ds.id, f"{ds.name} ({ds.id}, {ds.num_classes} classes)"))
    weights: list[tuple[str, str]] = []  # a succeeded job's student or an uploaded model: teachers, warm starts
    succeeded, _ = job_reads.list_jobs(session, tenant_id, PageParams(limit=TEACHER_CHOICES_MAX), JobStatus.SUCCEEDED)
    for job in sorted(succeeded, key=_best_first):
        weights.append((f"job:{job.id}", weights_label(job)))
    models, _ = uploaded_models.list_models(session, tenant_id, PageParams(limit=TEACHER_CHOICES_MAX))
    for model in models:
        name = model.name or model.id
        weights.append((f"model:{model.id}", f"uploaded {name}: {model.arch}, {model.num_classes} classes"))
    present = [name for name in [*zoo.list_models(), *zoo.timm_zoo.cached_names()] if _weights_present(name)]
    teachers = [
        ("", NO_TEACHER),
        *weights,
        *((f"{PRETRAINED}:{name}", f"pretrained {name} (weights on this server)") for name in present),
    ]
    inits = [
        ("scratch", "fresh weights"),
        (PRETRAINED, "the student's pretrained weights (tv/ and timm/ students)"),
        *((value, f"warm start from {label}") for value, label in weights),
    ]
    methods = [(m, f"{m} (scale decoupled)" if m in SD_METHODS else m) for m in METHODS]
    students = [*zoo.list_models(), *(name for name in zoo.timm_zoo.cached_names() if name not in zoo.list_models())]
    return FormChoices(dataset_choices, students, methods, teachers, inits, frozenset(missing), _missing_note(missing))


def builtin_label(dataset: BuiltinDataset) -> str:
    """``digits (10 classes)``, ``cifar10 (downloaded by the first job)``, ``cifar10 (not on this server)``."""
    if dataset.availability == "present":
        return f"{dataset.name} ({dataset.num_classes} classes)" if dataset.num_classes else dataset.name
    if dataset.availability == "downloadable":
        return f"{dataset.name} (downloaded by the first job naming it)"
    return f"{dataset.name} (not on this server)"


def _missing_note(missing: list[str]) -> str | None:
    if not missing:
        return None
    names = ", ".join(missing)
    return (
        f"{names} {'is' if len(missing) == 1 else 'are'} not on this server: the files are not in its data folder "
        f"({DATA_ROOT_SETTING}) and it may not download them; an operator can set {DOWNLOAD_SETTING}=true or "
        f"extract them into {DATA_ROOT_SETTING}."
    )


def _top1(job: Job) -> float | None:
    top1 = (job.result or {}).get("val_top1")
    return float(top1) if isinstance(top1, (int, float)) and not isinstance(top1, bool) else None


def _best_first(job: Job) -> tuple[bool, float]:
    """Sort key: the highest val top-1 first, jobs without one last (newest first among equals)."""
    top1 = _top1(job)
    return top1 is None, -(top1 or 0.0)


def weights_label(job: Job) -> str:
    """A succeeded job as a teacher or warm start: ``kd baseline — resnet32, top-1 71.20% (ce on digits)``;
    an unnamed job ends with its id instead of starting with it."""
    top1 = _top1(job)
    model = job.spec["student"] + (f", top-1 {top1:.2f}%" if top1 is not None else ", no top-1 recorded")
    trained = f"{job.spec['method']} on {job.spec['dataset']}"
    return f"{job.name} — {model} ({trained})" if job.name else f"{model} ({trained}, {job.id})"


def _weights_present(name: str) -> bool:
    weights = zoo.pretrained_weights_of(name)
    return weights is not None and weights.file is not None


def initial_values(choices: FormChoices) -> dict[str, str]:
    """The form as first shown: digits, resnet8, SD-KD when a teacher exists (else ce), defaults.

    No teacher is chosen: the newest succeeded job may be any student, so the user picks one (a
    distillation method submitted without one is refused, naming the teacher field)."""
    fields = DistillationSettings.model_fields
    method = "sd-kd" if len(choices.teachers) > 1 else "ce"
    values = {
        "dataset": "digits" if "digits" in list_datasets() else choices.datasets[0][0],
        "student": "resnet8" if "resnet8" in choices.students else choices.students[0],
        "method": method,
        "teacher": "",
        "init": "scratch",
        "scales": form_text(list(DEFAULT_SCALES)),
        "beta": form_text(DEFAULT_BETA),
        "seed": form_text(fields["seed"].default),
        "image_size": "",
        "metadata": "",
        "name": "",
        "tags": "",
    }
    return values | defaults_by_method()[method]


def clone_values(copy: JobCopy) -> tuple[dict[str, str], list[str]]:
    """The form filled in from a job to clone: its copy's request, named "<name> (copy)" if it had
    a name; and the fields of that request the form has no input for (a copy sent from it goes without them)."""
    name = copy.source.name
    suggested = f"{name[: NAME_MAX_CHARS - len(COPY_SUFFIX)].rstrip()}{COPY_SUFFIX}" if name else None
    shown = {*TOP_FIELDS, "hyperparameters"}
    unshown = [key for key in copy.request if key not in shown]
    unshown += [HYPER_PREFIX + key for key in copy.request.get("hyperparameters", {}) if key not in HYPER_NAMES]
    return request_values(copy.request | {"name": suggested}), unshown


def _ref_value(ref: dict[str, Any]) -> str:
    """A reference's select value: ``job:<id>``, ``model:<id>``, ``pretrained:<arch>``; "" for none."""
    for kind, key in (("job", "job"), ("model", "model"), (PRETRAINED, "arch")):
        if ref.get(key):
            return f"{kind}:{ref[key]}"
    return ""


def request_values(body: dict[str, Any]) -> dict[str, str]:
    """The form's text for a ``POST /v1/jobs`` body (``request_body`` the other way): what it
    leaves out shows as not given, its hyper-parameters over the method's pre-filled defaults."""
    values = {name: form_text(body.get(name)) for name in TOP_FIELDS}
    values["teacher"] = _ref_value(body.get("teacher") or {})
    init = body.get("init") or "scratch"
    values["init"] = init if isinstance(init, str) else _ref_value(init)
    values["metadata"] = json.dumps(body["metadata"], ensure_ascii=False) if body.get("metadata") else ""
    hyper = {
        HYPER_PREFIX + name: form_text(value)
        for name, value in (body.get("hyperparameters") or {}).items()
        if name in HYPER_NAMES
    }
    return values | defaults_by_method().get(str(body.get("method")), {}) | hyper


# ---------------------------------------------------------------- posted fields -> JobCreate


def _split_list(text: str) -> list[str]:
    """The parts of a comma- or space-separated list (numbers, or tags)."""
    return [part for part in _SPLIT.split(text.strip()) if part]


def request_body(fields: dict[str, str], errors: FormErrors) -> dict[str, Any]:
    """The JSON body ``POST /v1/jobs`` would get for these form fields (parse problems to ``errors``)."""
    body: dict[str, Any] = {}
    for name in ("dataset", "student", "method", "beta", "seed", "image_size"):
        value = fields.get(name, "").strip()
        if value:
            body[name] = value
    if fields.get("scales", "").strip():
        parts = _split_list(fields["scales"])
        if all(part.isascii() and part.isdigit() for part in parts):  # the spec takes integers, not their text
            body["scales"] = [int(part) for part in parts]
        else:
            errors.add("scales", "scales: whole numbers separated by commas, such as 1, 2, 4")
    teacher = fields.get("teacher", "").strip()
    kind, _, ref = teacher.partition(":")
    if teacher and (kind not in ("job", "model", PRETRAINED) or not ref):
        errors.add("teacher", "teacher: choose one of the listed jobs, models or pretrained weights, or none")
    elif kind == PRETRAINED:
        body["teacher"] = {"arch": ref, "pretrained": True}
    else:
        body["teacher"] = {kind: ref} if teacher and ref else None
    init = fields.get("init", "").strip()
    kind, _, ref = init.partition(":")
    if init in ("scratch", PRETRAINED):
        body["init"] = init
    elif kind in ("job", "model") and ref:
        body["init"] = {kind: ref}
    elif init:
        errors.add("init", "init: choose fresh weights, pretrained weights or one of the listed warm starts")
    if fields.get("name", "").strip():
        body["name"] = fields["name"]
    if fields.get("tags", "").strip():
        body["tags"] = _split_list(fields["tags"])
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
        hyper[spec.name] = _split_list(value) if spec.kind == "int_list" else value
    body["hyperparameters"] = hyper
    if method not in SD_METHODS:  # scales and beta shape the SD methods only: as pre-filled, they are no request
        if body.get("scales") == list(DEFAULT_SCALES):
            del body["scales"]
        if _number(body.get("beta")) == DEFAULT_BETA:
            del body["beta"]
    return body


def _number(text: object) -> float | None:
    try:
        return float(text) if isinstance(text, str) else None
    except ValueError:
        return None


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
