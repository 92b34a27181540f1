"""A job as a tenant asks for it: ``JobRequest``, the shape every submission is checked against.

It is ``sdd_core.spec.DistillationSettings`` (the fields every job states) plus the service's
forms of the references: ``dataset`` is a built-in name or an uploaded dataset's id, ``teacher``
names a succeeded job or an uploaded model instead of a file path. Pydantic checks the shape
and the field-local rules here; the rules that need the database or the models are in
``domain.jobs.validation``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sdd_core.data import IMAGE_FOLDER_PREFIX, list_datasets
from sdd_core.spec import DistillationSettings, check_arch

DATASET_ID_PREFIX = "ds_"
METADATA_MAX_BYTES = 16 * 1024
NAME_MAX_CHARS = 100
TAGS_MAX = 16
TAG_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,40}")
TrackingBackend = Literal["mlflow", "wandb"]
TRACKING_BACKENDS: tuple[str, ...] = ("mlflow", "wandb")


def _is_none(value: object) -> bool:
    return value is None


class WeightsRef(BaseModel):
    """Weights of yours: exactly one of ``job`` (a succeeded job's student) or ``model`` (an upload)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"job": "job_3f9c0a1b2c3d4e5f60718293"}, {"model": "mdl_0a1b2c3d4e5f607182930a1b"}]
        },
    )

    # Serialised as written: {"job": id} or {"model": id}, without the other key.
    job: str | None = Field(None, description="A succeeded job of yours; its distilled student.", exclude_if=_is_none)
    model: str | None = Field(None, description="A model you uploaded with POST /v1/models.", exclude_if=_is_none)

    @model_validator(mode="after")
    def _exactly_one(self) -> WeightsRef:
        if (self.job is None) == (self.model is None):
            raise ValueError("name exactly one of 'job' (a succeeded job of yours) or 'model' (an uploaded model)")
        return self


class TeacherRef(BaseModel):
    """Where the teacher's weights come from: a job of yours, a model you uploaded, or an
    architecture's pretrained weights (``{"arch": "tv/resnet50", "pretrained": true}``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"job": "job_3f9c0a1b2c3d4e5f60718293"},
                {"model": "mdl_0a1b2c3d4e5f607182930a1b"},
                {"arch": "tv/resnet50", "pretrained": True},
            ]
        },
    )

    job: str | None = Field(
        None, description="A succeeded job of yours; its distilled student is the teacher.", exclude_if=_is_none
    )
    model: str | None = Field(None, description="A model you uploaded with POST /v1/models.", exclude_if=_is_none)
    arch: str | None = Field(
        None,
        description="A tv/ or timm/ architecture whose pretrained weights teach (with pretrained: true); they "
        "predict their own dataset's classes (ImageNet's 1000), which the job's dataset must have.",
        exclude_if=_is_none,
    )
    pretrained: bool | None = Field(None, description="true, with arch.", exclude_if=_is_none)

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str | None) -> str | None:
        return None if value is None else check_arch(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> TeacherRef:
        if sum(value is not None for value in (self.job, self.model, self.arch)) != 1:
            raise ValueError(
                "name exactly one of 'job' (a succeeded job of yours), 'model' (an uploaded model) "
                "or 'arch' with pretrained: true (an architecture's pretrained weights)"
            )
        if (self.arch is not None) != (self.pretrained is True):
            raise ValueError(
                "'pretrained': true goes with 'arch' (and only with it): the architecture's pretrained weights"
            )
        return self


StudentInitRef = Literal["scratch", "pretrained"] | WeightsRef
"""The student's first weights: a fresh initialisation, its architecture's pretrained weights, or
a warm start from weights of yours saved from the same architecture."""


def checked_name(value: str | None, max_chars: int = NAME_MAX_CHARS) -> str | None:
    """A job's or a sweep's name, stripped: 1 to ``max_chars`` printable characters (no control or
    format characters: an ESC or a right-to-left override would rewrite a terminal)."""
    if value is None:
        return None
    name = value.strip()
    if not 1 <= len(name) <= max_chars:
        raise ValueError(f"must be 1 to {max_chars} characters (not counting spaces around it), got {len(name)}")
    if not name.isprintable():
        raise ValueError("must be printable text on one line (no control characters such as tabs or newlines)")
    return name


class JobRequest(DistillationSettings):
    """A distillation job to run. Hyper-parameters left out take the method's default."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(
        min_length=1,
        max_length=40,
        description=f"A built-in dataset ({', '.join(list_datasets())}) or an uploaded dataset's id (ds_…).",
        examples=["digits"],
    )
    teacher: TeacherRef | None = Field(
        None, validate_default=True, description="Required by every method but 'ce' (which must leave it null)."
    )
    metadata: dict[str, Any] | None = Field(
        None,
        description="Free-form JSON object stored with the job (at most 16 KiB).",
        examples=[{"run": "a1"}],
    )
    name: str | None = Field(
        None,
        description=f"What you call the job, shown instead of its id (1 to {NAME_MAX_CHARS} printable characters).",
        examples=["resnet8 sd-kd beta 2"],
    )
    devices: int = Field(
        1,
        ge=1,
        le=8,
        description="Devices of one node that train the job together (torch.distributed: NCCL on GPUs, gloo on "
        "CPUs); it waits for a worker started with `sdd worker --devices N`. batch_size stays the global batch "
        "and must split evenly over them.",
        exclude_if=lambda value: value == 1,
    )
    sync_batchnorm: bool = Field(
        False,
        description="With devices > 1: batch norms use the whole global batch's statistics (SyncBatchNorm).",
        exclude_if=lambda value: value is False,
    )
    init: StudentInitRef = Field(
        "scratch",
        description="The student's first weights: 'scratch', 'pretrained' (its tv/ or timm/ architecture's "
        "weights; the head starts fresh when the class counts differ) or a warm start from weights of yours of "
        'the same architecture: {"model": "mdl_…"} or {"job": "job_…"}.',
        examples=["pretrained", {"model": "mdl_0a1b2c3d4e5f607182930a1b"}],
        exclude_if=lambda value: value == "scratch",
    )
    tags: list[str] = Field(
        default_factory=list,
        description=f"Labels to find the job by (GET /v1/jobs?tag=...): at most {TAGS_MAX}, each 1 to 40 of "
        "A-Z a-z 0-9 . _ : -; stored once each, sorted.",
        examples=[["digits", "beta-sweep"]],
    )

    tracking: list[TrackingBackend] = Field(
        default_factory=list,
        description="Experiment trackers to log the run to, by name only: 'mlflow' and/or 'wandb'. The tracking "
        "server, project and credentials are the deployment's (its operator configures them); a job never names "
        "them. The job's `tracking` then links each run. TensorBoard event files are stored for every job.",
        examples=[["mlflow"]],
        exclude_if=lambda value: not value,
    )

    def as_submitted(self) -> dict[str, Any]:
        """The job's fields as the request gave them, no default filled in (metadata, name and tags
        left out: the job row keeps them apart). A job row's ``request``, what a copy of it asks for."""
        return self.model_dump(mode="json", exclude_unset=True, exclude_none=True, exclude={"metadata", "name", "tags"})

    @field_validator("dataset")
    @classmethod
    def _service_dataset(cls, value: str) -> str:
        if value.startswith(IMAGE_FOLDER_PREFIX):
            raise ValueError(
                "server paths are not accepted over HTTP; upload the folder as an archive with "
                "POST /v1/datasets and pass the returned id"
            )
        if value in list_datasets() or (value.startswith(DATASET_ID_PREFIX) and len(value) > len(DATASET_ID_PREFIX)):
            return value
        raise ValueError(
            f"unknown dataset {value!r}; allowed: {', '.join(list_datasets())}, "
            f"or the id ({DATASET_ID_PREFIX}…) of a dataset uploaded with POST /v1/datasets"
        )

    @field_validator("tracking", mode="before")
    @classmethod
    def _tracker_names(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        for item in value:
            if item not in TRACKING_BACKENDS:
                shown = repr(item) if isinstance(item, str) else f"a {type(item).__name__}"
                raise ValueError(
                    f"unknown tracker {shown[:80]}; name one of {', '.join(TRACKING_BACKENDS)}: the tracking "
                    "server, project and credentials are configured by the operator, never in a job"
                )
        return sorted(set(value))

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
            raise ValueError(f"must be at most {METADATA_MAX_BYTES // 1024} KiB of JSON")
        return value

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str | None) -> str | None:
        return checked_name(value)

    @field_validator("tags")
    @classmethod
    def _tag_words(cls, value: list[str]) -> list[str]:
        tags = sorted(set(value))
        if len(tags) > TAGS_MAX:
            raise ValueError(f"at most {TAGS_MAX} different tags, got {len(tags)}")
        for tag in tags:
            if not TAG_PATTERN.fullmatch(tag):
                raise ValueError(f"tag {tag[:60]!r} must be 1 to 40 characters of A-Z a-z 0-9 . _ : -")
        return tags
