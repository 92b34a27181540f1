"""Job schemas: ``JobCreate`` (the request), ``JobPublic``/``JobsPublic`` and a job's records.

``JobCreate`` is the domain's ``JobRequest`` (``domain.jobs.job_request``: the shape of a submission
and its field-local rules) with the examples the OpenAPI document shows.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Page, UtcDatetime
from api.schemas.student_cost import StudentCost
from domain.jobs.job_request import JobRequest, StudentInitRef, TeacherRef
from domain.status import JobStatus
from sdd_core.spec import DataProtocol, Hyperparameters, with_stored_protocol
from service.db.models import Job

_JOB_EXAMPLE: dict[str, Any] = {
    "dataset": "digits",
    "student": "resnet8",
    "teacher": {"job": "job_3f9c0a1b2c3d4e5f60718293"},
    "method": "sd-kd",
    "scales": [1, 2, 4],
    "beta": 2.0,
    "hyperparameters": {"epochs": 30, "batch_size": 128},
    "seed": 0,
    "metadata": {"experiment": "sdd-digits-1"},
    "name": "resnet8 sd-kd beta 2",
    "tags": ["digits", "beta-sweep"],
}


class JobCreate(JobRequest):
    """A distillation job to run. Hyper-parameters left out take the method's default."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_JOB_EXAMPLE]})


class JobSpecPublic(BaseModel):
    """The job as submitted, with every default filled in (what the worker trains)."""

    dataset: str
    student: str
    teacher: TeacherRef | None
    init: StudentInitRef = Field("scratch", description="Where the student's first weights came from.")
    devices: int = Field(1, description="Devices of one node training the job together.")
    sync_batchnorm: bool = Field(False, description="Batch norms over the global batch (devices > 1).")
    method: str
    scales: list[int] | None = Field(None, description="SD methods only (null for the others): the pooling scales.")
    beta: float | None = Field(None, description="SD methods only (null for the others): the complementary weight.")
    seed: int
    image_size: int | None = Field(description="The size the models see; filled in from the dataset when omitted.")
    protocol: DataProtocol = Field(
        "literature",  # what a server from before protocols means: a client reading one still works
        description="held_out: a held-out part of the training split chose, the val split is the test split; "
        "literature: the val split chose and reports (jobs stored before protocols existed).",
    )
    holdout_fraction: float = Field(0.1, description="With held_out: the part of each class held out for validation.")
    hyperparameters: Hyperparameters
    tracking: list[str] = Field(
        default_factory=list, description="The experiment trackers the job logs its run to (mlflow, wandb)."
    )


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
    batches: int | None = Field(None, description="Batches per epoch; null when the job is not running.", examples=[57])


class HeldOutPart(BaseModel):
    """The part of the training split held out for validation (never trained on)."""

    fraction: float = Field(description="Of each class.")
    images: int
    indices_sha256: str = Field(description="SHA-256 of the held-out indices, sorted, as little-endian int64.")


class JobProtocol(BaseModel):
    """Which split chose (best epoch, early stopping, a sweep's choice) and which one the result reports."""

    name: DataProtocol
    validation_split: str = Field(description="'val', or 'train (held-out part)'.")
    test_split: str | None = Field(None, description="'val' under held_out; null under literature.")
    reported_on: str = Field(description="'test' or 'val': the split of per_class, confusion and agreement_top1.")
    held_out: HeldOutPart | None = None
    val_top1: float | None = Field(None, description="The exported student's top-1 on the validation split.")
    test_top1: float | None = Field(None, description="The exported student's top-1 on the test split, once.")


class JobResult(BaseModel):
    """Validation accuracy of the final student, in percent, which weights it is, and what it costs to run."""

    val_top1: float | None = None
    val_top5: float | None = None
    best_val_top1: float | None = None
    exported_epoch: int | None = Field(
        None, description="The epoch whose weights the student is: the last, or the best with export 'best'."
    )
    stopped_early_at_epoch: int | None = Field(
        None, description="The last epoch trained when early_stopping_patience stopped the job; null otherwise."
    )
    student_formats: list[str] | None = Field(
        None, description="The formats GET /student?format= serves: safetensors, and onnx / torchscript when exported."
    )
    cost: StudentCost | None = Field(
        None, description="What the student costs to run: parameters, FLOPs per image, latency on the worker."
    )
    teacher_val_top1: float | None = Field(None, description="The teacher's val top-1 on this job's val split.")
    test_top1: float | None = Field(
        None,
        description="With protocol held_out: the exported student's top-1 on the test split (the dataset's val "
        "split), evaluated once; val_top1 is then the held-out validation part's.",
    )
    teacher_test_top1: float | None = Field(None, description="With held_out: the teacher's top-1 on the test split.")
    protocol: JobProtocol | None = Field(None, description="Which split chose and which one reports (the card's).")


class TrackedRun(BaseModel):
    """The job's run in an experiment tracker."""

    run_id: str = Field(description="The run's id in the tracker.")
    url: str | None = Field(
        None,
        description="The run's page in the tracker's UI; null where it has none yet (a W&B run kept offline "
        "until its operator syncs it).",
    )


class JobTracking(BaseModel):
    """Where the job's run is logged, by tracker (a tracker is absent until its run has started)."""

    mlflow: TrackedRun | None = None
    wandb: TrackedRun | None = None


class JobError(BaseModel):
    code: str = Field(description="e.g. 'dataset_error', 'teacher_error', 'non_finite', 'internal_error'.")
    message: str


class JobPublic(BaseModel):
    """A job: its spec, where it stands, and its outcome."""

    id: str
    name: str | None = Field(None, description="What you called the job (null: it is shown by its id).")
    tags: list[str] = Field(default_factory=list, description="The job's tags, sorted.")
    status: JobStatus
    spec: JobSpecPublic
    request: dict[str, Any] = Field(
        description="The job's fields as submitted, before the service filled in its defaults (metadata, name and "
        "tags apart): the body that submits a copy of it, where what the source left to the service is left to it "
        "again. A job submitted before requests were kept has its spec here."
    )
    metadata: dict[str, Any] | None
    progress: Progress
    result: JobResult | None = Field(description="Null until the job has a result.")
    error: JobError | None = Field(description="Set when the job failed.")
    status_reason: str | None = Field(
        None,
        description="Why a search's trial was pruned (its rung, its val top-1 and the lowest kept); while it still "
        "runs, its worker stops it at the next batch.",
        examples=[
            "pruned at rung 1 (epoch 1): val top-1 41.20% was not among the best 3 of 9 (the lowest kept 52.10%)"
        ],
    )
    sweep_id: str | None = Field(
        None, description="The sweep this job is a member of (null for a job submitted alone)."
    )
    tracking: JobTracking | None = Field(
        None, description="The runs in the experiment trackers the job asked for; null when it asked for none."
    )
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None

    @classmethod
    def from_row(cls, job: Job) -> JobPublic:
        error = JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None
        return cls(
            id=job.id,
            name=job.name,
            tags=job.tags,
            status=job.status,
            spec=JobSpecPublic.model_validate(with_stored_protocol(job.spec)),
            request=job.request,
            metadata=job.metadata_,
            progress=Progress(epoch=job.epoch, epochs=job.epochs, batch=job.batch, batches=job.batches),
            result=JobResult.model_validate(job.result) if job.result else None,
            error=error,
            status_reason=job.prune_reason,
            sweep_id=job.sweep_id,
            tracking=JobTracking.model_validate(job.tracking) if job.tracking else None,
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
