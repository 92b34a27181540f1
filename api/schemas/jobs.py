"""Job schemas: ``JobCreate`` (the request), ``JobPublic``/``JobsPublic`` and a job's records.

``JobCreate`` is ``sdd_core.spec.DistillationSettings`` (the fields every job states) plus the
HTTP forms of the references: ``dataset`` is a built-in name or an uploaded dataset's id, and
``teacher`` names a succeeded job or an uploaded model instead of a file path.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.common import Page, UtcDatetime
from sdd_core.data import IMAGE_FOLDER_PREFIX, list_datasets
from sdd_core.spec import DistillationSettings, Hyperparameters, check_teacher_presence
from service.db.models import Job

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelling", "cancelled"]
DATASET_ID_PREFIX = "ds_"
METADATA_MAX_BYTES = 16 * 1024

_JOB_EXAMPLE = {
    "dataset": "digits",
    "student": "resnet8",
    "teacher": {"job": "job_3f9c0a1b2c3d4e5f60718293"},
    "method": "sd-kd",
    "scales": [1, 2, 4],
    "beta": 2.0,
    "hyperparameters": {"epochs": 30, "batch_size": 128},
    "seed": 0,
    "metadata": {"experiment": "sdd-digits-1"},
}


def _is_none(value: object) -> bool:
    return value is None


class TeacherRef(BaseModel):
    """Where the teacher's weights come from: exactly one of ``job`` or ``model``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"job": "job_3f9c0a1b2c3d4e5f60718293"}, {"model": "mdl_0a1b2c3d4e5f607182930a1b"}]
        },
    )

    # Serialised as written: {"job": id} or {"model": id}, without the other key.
    job: str | None = Field(
        None,
        description="A succeeded job of yours; its distilled student is the teacher.",
        exclude_if=_is_none,
    )
    model: str | None = Field(
        None, description="A model you uploaded with POST /v1/models.", exclude_if=_is_none
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> TeacherRef:
        if (self.job is None) == (self.model is None):
            raise ValueError(
                "teacher: name exactly one of 'job' (a succeeded job of yours) or 'model' (an uploaded model)"
            )
        return self


def _dataset_error(value: str) -> str:
    return (
        f"unknown dataset {value!r}; allowed: {', '.join(list_datasets())}, "
        f"or the id ({DATASET_ID_PREFIX}…) of a dataset uploaded with POST /v1/datasets"
    )


class JobCreate(DistillationSettings):
    """A distillation job to run. Hyper-parameters left out take the method's default."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_JOB_EXAMPLE]})

    dataset: str = Field(
        description=f"A built-in dataset ({', '.join(list_datasets())}) or an uploaded dataset's id (ds_…).",
        examples=["digits"],
    )
    teacher: TeacherRef | None = Field(
        None, description="Required by every method but 'ce' (which must leave it null)."
    )
    metadata: dict[str, Any] | None = Field(
        None,
        description="Free-form JSON object stored with the job (at most 16 KiB).",
        examples=[{"run": "a1"}],
    )

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:  # replaces DistillationSettings' check of the same name
        if value.startswith(IMAGE_FOLDER_PREFIX):
            raise ValueError(
                "server paths are not accepted over HTTP; upload the folder as an archive with "
                "POST /v1/datasets and pass the returned id"
            )
        if value in list_datasets() or (
            value.startswith(DATASET_ID_PREFIX) and len(value) > len(DATASET_ID_PREFIX)
        ):
            return value
        raise ValueError(_dataset_error(value))

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
            raise ValueError(f"must be at most {METADATA_MAX_BYTES // 1024} KiB of JSON")
        return value

    @model_validator(mode="after")
    def _teacher_presence(self) -> JobCreate:
        check_teacher_presence(self.method, self.teacher is not None)
        return self


class JobSpecPublic(BaseModel):
    """The job as submitted, with every default filled in (what the worker trains)."""

    dataset: str
    student: str
    teacher: TeacherRef | None
    method: str
    scales: list[int]
    beta: float
    seed: int
    image_size: int | None = Field(
        description="The size the models see; filled in from the dataset when omitted."
    )
    hyperparameters: Hyperparameters


class Progress(BaseModel):
    """How far the job is: finished epochs, and while it runs, the epoch in progress by batches."""

    epoch: int = Field(description="Last finished epoch (0 before the first one ends).", examples=[3])
    epochs: int = Field(description="Epochs the job trains in all.", examples=[10])
    batch: int | None = Field(
        None,
        description="Batches done of the epoch in progress (epoch + 1); null when the job is not running "
        "or no batch of that epoch has been reported yet. Updated every few seconds.",
        examples=[12],
    )
    batches: int | None = Field(
        None, description="Batches per epoch; null when the job is not running.", examples=[57]
    )


class JobResult(BaseModel):
    """Validation accuracy of the final student, in percent."""

    val_top1: float | None = None
    val_top5: float | None = None
    best_val_top1: float | None = None


class JobError(BaseModel):
    code: str = Field(description="e.g. 'dataset_error', 'teacher_error', 'non_finite', 'internal_error'.")
    message: str


class JobPublic(BaseModel):
    """A job: its spec, where it stands, and its outcome."""

    id: str
    status: JobStatus
    spec: JobSpecPublic
    metadata: dict[str, Any] | None
    progress: Progress
    result: JobResult | None = Field(description="Null until the job has a result.")
    error: JobError | None = Field(description="Set when the job failed.")
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None

    @classmethod
    def from_row(cls, job: Job) -> JobPublic:
        error = JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None
        return cls(
            id=job.id,
            status=job.status,
            spec=JobSpecPublic.model_validate(job.spec),
            metadata=job.metadata_,
            progress=Progress(epoch=job.epoch, epochs=job.epochs, batch=job.batch, batches=job.batches),
            result=JobResult.model_validate(job.result) if job.result else None,
            error=error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class JobsPublic(Page):
    data: list[JobPublic]


class MetricsPublic(BaseModel):
    """One row per finished epoch (epoch, lr, train_loss, val_top1, val_top5, ...), by epoch."""

    data: list[dict[str, Any]]


class EventPublic(BaseModel):
    type: str = Field(
        description="queued, started, epoch, checkpoint, resumed, cancelling, cancelled, succeeded, failed, …"
    )
    message: str
    data: dict[str, Any] | None
    created_at: UtcDatetime


class EventsPublic(BaseModel):
    data: list[EventPublic]


class CheckpointPublic(BaseModel):
    epoch: int
    size_bytes: int
    sha256: str
    created_at: UtcDatetime


class CheckpointsPublic(BaseModel):
    data: list[CheckpointPublic]
