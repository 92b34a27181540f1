"""Typed views of the REST v1 schemas, for callers of :class:`sdd_client.SDDClient`.

They mirror ``api/schemas`` without importing the service (no torch, no SQL). Every model
allows extra fields, so a newer server that adds fields never breaks an older client; fields a
newer server might omit have defaults. ``Job.status`` is a plain string for the same reason
(compare it with ``JobStatus`` members, ``sdd_client.job_status``: a ``StrEnum`` member equals its value).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sdd_client.job_status import TERMINAL, JobStatus

T = TypeVar("T")


class _Public(BaseModel):
    """Base of every mirrored schema: unknown fields are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first; pass the last item's id as ``after`` for the next."""

    model_config = ConfigDict(extra="allow")

    data: list[T]
    has_more: bool = False


# ---------------------------------------------------------------- job requests


class Hyperparameters(_Public):
    """Training hyper-parameters; ``None`` means the method's default (filled in by the server)."""

    epochs: int | None = Field(None, description="Training epochs.")
    batch_size: int | None = Field(None, description="Images per step.")
    lr: float | None = Field(None, description="Initial SGD learning rate.")
    lr_decay_epochs: list[int] | None = Field(None, description="Epochs after which the lr decays, e.g. 150,180,210.")
    lr_decay_rate: float | None = Field(None, description="Multi-step decay factor.")
    momentum: float | None = Field(None, description="SGD momentum.")
    weight_decay: float | None = Field(None, description="SGD weight decay.")
    temperature: float | None = Field(None, description="Distillation temperature T.")
    ce_weight: float | None = Field(None, description="Weight of the cross-entropy term.")
    kd_weight: float | None = Field(None, description="Weight of the distillation term.")
    warmup_epochs: int | None = Field(None, description="Epochs over which the distillation weight ramps up.")
    dkd_alpha: float | None = Field(None, description="DKD target-class (TCKD) weight.")
    dkd_beta: float | None = Field(None, description="DKD non-target (NCKD) weight.")
    nkd_gamma: float | None = Field(None, description="NKD non-target term weight.")
    nkd_mode: str | None = Field(None, description="'paper' or 'code' (NKD's non-target term).")
    device: str | None = Field(None, description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    precision: str | None = Field(None, description="'fp32' or 'bf16'.")
    channels_last: bool | None = Field(None, description="channels_last memory format on CUDA.")
    compile: str | None = Field(None, description="torch.compile of the steps: 'auto', 'on' or 'off'.")
    flip: bool | None = Field(None, description="Random horizontal flip in training (off for digits).")
    crop_padding: int | None = Field(None, description="Zero padding of the random crop, in pixels.")
    crop_scale_min: float | None = Field(None, description="Smallest area share of a large image's random crop.")
    loader_workers: int | None = Field(None, description="Data-loader processes for large images.")
    early_stopping_patience: int | None = Field(
        None, description="Stop after this many epochs without a val top-1 gain (unset: every epoch)."
    )
    export: str | None = Field(None, description="'last' (default) or 'best': which epoch's weights are exported.")


class TeacherRef(_Public):
    """Where the teacher comes from: a succeeded job (``job``), an uploaded model (``model``) or an
    architecture's pretrained weights (``arch`` with ``pretrained=True``)."""

    job: str | None = None
    model: str | None = None
    arch: str | None = None
    pretrained: bool | None = None


class WeightsRef(_Public):
    """Weights of yours to warm-start a student from: a succeeded job's student or an uploaded model."""

    job: str | None = None
    model: str | None = None


StudentInit = Literal["scratch", "pretrained"] | WeightsRef


class JobSubmission(_Public):
    """A job to submit (``POST /v1/jobs``); fields left ``None`` take the server's defaults."""

    dataset: str = Field(description="A built-in dataset (see the catalog) or an uploaded dataset's id (ds_…).")
    student: str = Field(description="Student architecture.")
    method: str = Field(description="ce, kd, dkd, nkd, sd-kd, sd-dkd or sd-nkd.")
    teacher: TeacherRef | None = Field(None, description="Required by every method but 'ce'.")
    init: StudentInit | None = Field(
        None, description="The student's first weights: 'scratch', 'pretrained' or a WeightsRef (a warm start)."
    )
    devices: int | None = Field(None, description="Devices of one node training the job together (default 1).")
    sync_batchnorm: bool | None = Field(None, description="With devices > 1: batch norms over the global batch.")
    scales: list[int] | None = Field(None, description="SDD pooling scales, e.g. [1, 2, 4].")
    beta: float | None = Field(None, description="Weight of complementary regions in SDD.")
    seed: int | None = None
    image_size: int | None = None
    hyperparameters: Hyperparameters | None = None
    metadata: dict[str, Any] | None = Field(None, description="Free-form JSON stored with the job.")
    name: str | None = Field(None, description="What you call the job, shown instead of its id.")
    tags: list[str] | None = Field(None, description="Labels to find the job by (list_jobs(tags=...)).")

    def to_body(self) -> dict[str, Any]:
        """The JSON request body: unset (None) fields left out, so the server's defaults apply."""
        return self.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------- jobs


class JobSpec(_Public):
    """The job as the server will train it, every default filled in."""

    dataset: str
    student: str
    method: str
    teacher: TeacherRef | None = None
    init: StudentInit = "scratch"
    devices: int = 1
    sync_batchnorm: bool = False
    scales: list[int] = Field(default_factory=list)
    beta: float | None = None
    seed: int | None = None
    image_size: int | None = None
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)


class Progress(_Public):
    """Finished epochs, and while the job runs, how far the epoch in progress is."""

    epoch: int = Field(0, description="Last finished epoch (0 before the first one ends).")
    epochs: int = 0
    batch: int | None = Field(None, description="Batches done of the epoch in progress (None when not reported).")
    batches: int | None = Field(None, description="Batches per epoch (None when the job is not running).")

    @property
    def epoch_fraction(self) -> float:
        """The epoch in progress's share done, from its batches (0 when not reported)."""
        return self.batch / self.batches if self.batch is not None and self.batches else 0.0


class JobResult(_Public):
    """Validation accuracy of the final student, in percent, and which weights it is."""

    val_top1: float | None = None
    val_top5: float | None = None
    best_val_top1: float | None = None
    exported_epoch: int | None = None  # the last epoch, or the best one with export "best"
    stopped_early_at_epoch: int | None = None  # set when early stopping ended the job
    student_formats: list[str] | None = None  # what download_student(format=...) can fetch


class JobError(_Public):
    code: str
    message: str = ""


class Job(_Public):
    """A job: its spec, where it stands, and its outcome."""

    id: str
    name: str | None = Field(None, description="What you called the job (None: shown by its id).")
    tags: list[str] = Field(default_factory=list, description="The job's tags, sorted.")
    status: str
    spec: JobSpec
    metadata: dict[str, Any] | None = None
    progress: Progress = Field(default_factory=Progress)
    result: JobResult | None = None
    error: JobError | None = None
    sweep_id: str | None = Field(None, description="The sweep this job is a member of, if any.")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        """Succeeded, failed or cancelled: the job will not change any more."""
        return self.status in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED

    @property
    def label(self) -> str:
        """The job's name, else its id: how tables and legends show it."""
        return self.name or self.id

    @property
    def teacher_label(self) -> str:
        """``job:<id>``, ``model:<id>`` or ``-``."""
        teacher = self.spec.teacher
        if teacher is None:
            return "-"
        if teacher.arch:
            return f"pretrained:{teacher.arch}"
        return f"job:{teacher.job}" if teacher.job else f"model:{teacher.model}"


class EpochRow(_Public):
    """One finished epoch's metrics (accuracies in percent)."""

    epoch: int
    epochs: int | None = None
    lr: float | None = None
    train_loss: float | None = None
    train_ce: float | None = None
    train_kd: float | None = None
    train_top1: float | None = None
    val_loss: float | None = None
    val_top1: float | None = None
    val_top5: float | None = None
    best_val_top1: float | None = None
    images_per_s: float | None = None
    complementary_share: float | None = Field(None, description="SD methods only.")
    nonfinite_steps: int | None = None
    seconds: float | None = Field(None, description="Wall time of the epoch.")


class Event(_Public):
    type: str
    message: str = ""
    data: dict[str, Any] | None = None
    created_at: datetime


class Checkpoint(_Public):
    epoch: int
    size_bytes: int
    sha256: str
    created_at: datetime


# ---------------------------------------------------------------- sweeps


class MemberCounts(_Public):
    """A sweep's members by status."""

    queued: int = 0
    running: int = 0
    cancelling: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0


class SweepProgress(_Public):
    """Epochs finished over epochs planned, summed over the members."""

    epoch: int = 0
    epochs: int = 0
    fraction: float = 0.0
    members: MemberCounts = Field(default_factory=MemberCounts)


class SweepGroup(_Public):
    """Members that draw the same batches (a lockstep group)."""

    key: str
    members: list[str] = Field(default_factory=list)


class SweepSummary(_Public):
    """A sweep as lists show it (``GET /v1/sweeps``): no member details."""

    id: str
    name: str | None = None
    status: str
    progress: SweepProgress = Field(default_factory=SweepProgress)
    request: dict[str, Any] = Field(default_factory=dict, description="{'base': <job>, 'grid': {field: [values]}}")
    metadata: dict[str, Any] | None = None
    member_count: int = 0
    created_at: datetime
    updated_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        """Every member succeeded, failed or was cancelled."""
        return self.status in TERMINAL

    @property
    def grid(self) -> dict[str, list[Any]]:
        return dict(self.request.get("grid") or {})


class Sweep(SweepSummary):
    """A sweep and its member jobs (``GET /v1/sweeps/{id}``)."""

    members: list[Job] = Field(default_factory=list)
    groups: list[SweepGroup] = Field(default_factory=list)


class Stat(_Public):
    """Mean and sample standard deviation over n seeds."""

    mean: float | None = None
    std: float | None = None
    n: int = 0


class PairedGain(_Public):
    """Final val top-1 minus KD's for the same seed: mean, and the paired 95% interval (low, high)."""

    mean: float
    std: float | None = None
    n: int = 0
    half_width: float | None = None
    low: float | None = None
    high: float | None = None
    seeds: list[int] = Field(default_factory=list)


class SweepConfiguration(_Public):
    """One configuration of a sweep (a member's spec minus its seed) over its seeds."""

    label: str
    method: str
    student: str = ""
    scales: list[int] | None = None
    beta: float | None = None
    temperature: float | None = None
    members: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)
    final_top1: Stat = Field(default_factory=Stat)
    best_top1: Stat = Field(default_factory=Stat)
    final_top5: Stat = Field(default_factory=Stat)
    best_top5: Stat = Field(default_factory=Stat)
    wall_seconds: Stat = Field(default_factory=Stat)
    images_per_s: Stat = Field(default_factory=Stat)
    is_baseline: bool = False
    baseline: str | None = None
    gain: PairedGain | None = None


class Recommendation(_Public):
    text: str
    configuration: str | None = None
    beats_baseline: bool = False


class MemberClassAccuracy(_Public):
    job_id: str
    configuration: str = ""
    seed: int = 0
    accuracy: list[float | None] = Field(default_factory=list)


class ClassGain(_Public):
    index: int
    name: str
    gain: float
    n: int = 0


class PerClass(_Public):
    available: bool = False
    note: str | None = None
    classes: list[str] = Field(default_factory=list)
    members: list[MemberClassAccuracy] = Field(default_factory=list)
    configuration: str | None = None
    gains: list[ClassGain] = Field(default_factory=list)


class Confusion(_Public):
    job_id: str
    configuration: str = ""
    seed: int = 0
    val_top1: float | None = None
    classes: list[str] = Field(default_factory=list)
    matrix: list[list[int]] = Field(default_factory=list)


class SweepReport(_Public):
    """Which configuration, by how much, how sure (``GET /v1/sweeps/{id}/report``)."""

    sweep_id: str
    status: str
    members: dict[str, int] = Field(default_factory=dict)
    configurations: list[SweepConfiguration] = Field(default_factory=list)
    recommendation: Recommendation
    per_class: PerClass = Field(default_factory=PerClass)
    confusion: Confusion | None = None
    notes: list[str] = Field(default_factory=list)

    def configuration_of(self, job_id: str) -> SweepConfiguration | None:
        """The configuration a member job belongs to."""
        return next((c for c in self.configurations if job_id in c.members), None)


# ---------------------------------------------------------------- uploads


class Dataset(_Public):
    """An uploaded image-folder dataset; pass its ``id`` as a job's ``dataset``."""

    id: str
    name: str
    classes: list[str] = Field(default_factory=list)
    num_classes: int
    image_size: int | None = None
    train_count: int = 0
    val_count: int = 0
    class_counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    size_bytes: int = 0
    sha256: str = ""
    created_at: datetime


class UploadedModel(_Public):
    """Uploaded teacher weights; name them as a job's teacher with ``{"model": id}``."""

    id: str
    name: str | None = None
    arch: str
    num_classes: int
    size_bytes: int = 0
    sha256: str = ""
    created_at: datetime


# ---------------------------------------------------------------- catalog


class Architecture(_Public):
    name: str
    sd_supported: bool = True
    reason: str | None = None
    pretrained: str | None = Field(None, description="'present', 'absent' (see weights_file), or None: it has none.")
    weights_file: str | None = Field(None, description="Where its pretrained weights file lies, or must lie.")


class BuiltinDataset(_Public):
    name: str
    num_classes: int | None = None


class Method(_Public):
    name: str
    scale_decoupled: bool = False
    needs_teacher: bool = True
    hyperparameters: dict[str, Any] = Field(default_factory=dict)


class SDDefaults(_Public):
    scales: list[int] = Field(default_factory=list)
    beta: float | None = None


class Limits(_Public):
    max_epochs: int | None = None
    max_batch_size: int | None = None
    max_image_size: int | None = None
    max_scale: int | None = None
    max_upload_bytes: int | None = None
    max_jobs_in_flight: int | None = None
    max_sweep_size: int | None = None
    rate_limit_per_minute: int | None = None
    rate_limit_burst: int | None = None


class MeasuredSpeed(_Public):
    """One kind of job's median seconds per epoch and images/s over its newest epochs on the server."""

    dataset: str
    image_size: int
    student: str
    distilled: bool
    seconds_per_epoch: float
    images_per_s: float
    epochs_measured: int


class MeasuredThroughput(_Public):
    """A student's median training images/s at one image size, over every dataset."""

    student: str
    image_size: int
    distilled: bool
    images_per_s: float
    epochs_measured: int


class Catalog(_Public):
    """What a job may name on this server, the defaults and the limits."""

    architectures: list[Architecture] = Field(default_factory=list)
    timm_architectures: int = Field(0, description="How many timm/<name> architectures a job may name.")
    datasets: list[BuiltinDataset] = Field(default_factory=list)
    methods: list[Method] = Field(default_factory=list)
    defaults: SDDefaults = Field(default_factory=SDDefaults)
    limits: Limits = Field(default_factory=Limits)
    measured_speeds: list[MeasuredSpeed] = Field(default_factory=list)
    measured_throughput: list[MeasuredThroughput] = Field(default_factory=list)
