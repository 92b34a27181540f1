# Generated from client/openapi.json (the server's OpenAPI document) by scripts/generate_client_models.py
# with datamodel-code-generator: do not edit. After a schema change, regenerate both files with
#     .venv/bin/python scripts/generate_client_models.py
# Hand-written names and behaviour: sdd_client.models and sdd_client.model_methods.

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

from sdd_client.job_status import JobStatus
from sdd_client.model_methods import (
    JobMethods,
    ProgressMethods,
    SubmissionMethods,
    SweepMethods,
    SweepReportMethods,
)


class ArchitecturePublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    name: str
    sd_supported: Annotated[
        bool,
        Field(description="Whether the SD methods can use it (pooling + one linear head)."),
    ]
    reason: Annotated[str | None, Field(description="Why SD cannot use it, when it cannot.")]
    pretrained: Annotated[
        Literal["present", "absent"] | None,
        Field(
            description="Its pretrained weights: 'present' in this server's cache, 'absent' (they exist, the file is not here: see weights_file), or null (the architecture has none)."
        ),
    ] = None
    weights_file: Annotated[
        str | None,
        Field(description="Where the pretrained weights file lies, or must lie."),
    ] = None


class BadFile(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    path: Annotated[str, Field(description="The file, relative to the source.")]
    reason: str


class BuiltinDatasetPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    name: str
    num_classes: Annotated[
        int | None,
        Field(description="Null when not known without the data on this server."),
    ]
    available: Annotated[
        bool | None,
        Field(description="Whether a job may name it on this server: its files are here, or it may download them."),
    ] = True
    availability: Annotated[
        Literal["present", "downloadable", "missing"] | None,
        Field(
            description="present: its files are under this server's data folder (SDD_DATA_ROOT); downloadable: they are not, and the first job naming it downloads them (SDD_ALLOW_DOWNLOAD is on); missing: neither, so a job naming it is refused until an operator extracts them or allows downloading (see note)."
        ),
    ] = "present"
    note: Annotated[
        str | None,
        Field(
            description="For a dataset not present: what a job naming it meets, the folder looked in and the settings an operator changes."
        ),
    ] = None


class CheckpointPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    epoch: int
    size_bytes: int
    sha256: str
    created_at: AwareDatetime


class CheckpointsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    data: list[CheckpointPublic]


class ClassGain(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    index: int
    name: str
    gain: Annotated[
        float,
        Field(description="Percentage points over its base, mean over paired seeds."),
    ]
    n: int


class CompletedPart(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    number: Annotated[int, Field(ge=1, le=10000)]
    etag: Annotated[
        str,
        Field(
            description="The ETag the object store answered the part's PUT with.",
            max_length=200,
            min_length=1,
        ),
    ]


class ConfusionReport(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    job_id: str
    configuration: str
    seed: int
    val_top1: float | None
    classes: list[str]
    matrix: Annotated[
        list[list[int]],
        Field(description="Rows: true class; columns: predicted class."),
    ]


class CostPoint(BaseModel):
    """
    One configuration's accuracy and what its student costs to run.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    configuration: str
    student: str
    top1: Annotated[
        float | None,
        Field(description="The accuracy compared (CostReport.accuracy), percent."),
    ]
    measured: Annotated[int, Field(description="Members whose cost was recorded (the latencies' n).")]
    parameters: int | None
    flops_per_image: Annotated[float | None, Field(description="PyTorch's FLOP count of one image.")]
    cpu_batch1_ms: Annotated[
        float | None,
        Field(description="onnxruntime, CPU, batch 1: median ms, mean over seeds."),
    ]
    cpu_batch64_ms: float | None
    cuda_batch1_ms: Annotated[float | None, Field(description="PyTorch on the GPU: null where none was used.")]
    cuda_batch64_ms: float | None
    on_latency_frontier: bool
    on_parameters_frontier: bool


class DatasetError(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    code: Annotated[
        str,
        Field(description="Stable code: source_not_allowed, layout_mismatch, quota_exceeded, …"),
    ]
    message: str


class DatasetEventPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    type: Annotated[
        str,
        Field(description="registered, ingesting, progress, ready, failed, requeued, …"),
    ]
    message: str
    data: dict[str, Any] | None
    created_at: AwareDatetime


class DatasetEventsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    data: list[DatasetEventPublic]


class DatasetProgress(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    stage: Annotated[
        str,
        Field(description="What the ingestion is doing: queued, listing, reading, writing, …"),
    ]
    done: Annotated[int, Field(description="How many of the stage's items are done.")]
    total: Annotated[int | None, Field(description="How many there are to do, when known.")]


class DatasetPublic(BaseModel):
    """
    A dataset; once ``ready``, pass its ``id`` as a job's ``dataset``.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    id: str
    name: str
    status: Annotated[
        Literal["ingesting", "ready", "failed"],
        Field(description="ingesting, then ready (jobs may use it) or failed (see error)."),
    ]
    source: Annotated[
        str | None,
        Field(description="Where it was read from: s3://bucket/prefix/, or upload:<key> for an uploaded archive."),
    ]
    layout: Annotated[
        str | None,
        Field(description="imagefolder, cub200, imagenet or shards; null until detected."),
    ]
    progress: Annotated[
        DatasetProgress | None,
        Field(description="While ingesting: the stage and how far it got."),
    ]
    classes: Annotated[
        list[str] | None,
        Field(description="Class names, sorted; a label is an index into this list."),
    ]
    num_classes: int | None
    image_size: Annotated[
        int | None,
        Field(description="Side in pixels of the square images the models see by default."),
    ]
    train_count: int | None
    val_count: int | None
    class_counts: Annotated[
        dict[str, dict[str, int]] | None,
        Field(description="Images per class: {'train': {...}, 'val': {...}}."),
    ]
    statistics: Annotated[
        dict[str, Any] | None,
        Field(description="Measured while ingesting: per-channel mean and std of the training images, image sizes."),
    ]
    bad_files: Annotated[
        list[BadFile],
        Field(description="The first files that could not be used, and why (skipped)."),
    ]
    bad_files_count: Annotated[int, Field(description="How many files could not be used in all.")]
    error: Annotated[
        DatasetError | None,
        Field(description="Why the ingestion failed (status failed)."),
    ]
    size_bytes: Annotated[
        int,
        Field(description="Size of the uploaded archive (0 for a dataset registered by reference)."),
    ]
    sha256: Annotated[
        str | None,
        Field(description="SHA-256 of the uploaded archive (null for one registered by reference)."),
    ]
    storage_bytes: Annotated[
        int,
        Field(description="Bytes it takes in the service's storage (counted in your quota)."),
    ]
    created_at: AwareDatetime
    updated_at: AwareDatetime | None


class DatasetsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    has_more: Annotated[bool, Field(description="True when more items follow this page.")]
    data: list[DatasetPublic]


class ErrorBody(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    code: Annotated[
        str,
        Field(description="Stable machine-readable code, e.g. 'validation_error', 'not_found'."),
    ]
    message: Annotated[str, Field(description="What went wrong and what to change, for a person.")]
    param: Annotated[
        str | None,
        Field(description="The request field at fault, e.g. 'hyperparameters.lr'."),
    ] = None


class ErrorResponse(BaseModel):
    """
    Every 4xx/5xx answer has this shape.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    error: ErrorBody


class EventPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    type: Annotated[
        str,
        Field(description="queued, started, epoch, checkpoint, resumed, cancelling, cancelled, succeeded, failed, …"),
    ]
    message: str
    data: dict[str, Any] | None
    created_at: AwareDatetime


class EventsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    data: list[EventPublic]


class FloatRange(BaseModel):
    """
    A range to draw a number from: ``low`` to ``high``, on a log scale with ``log``.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    low: Annotated[float, Field(description="The smallest value.")]
    high: Annotated[float, Field(description="The largest value.")]
    log: Annotated[
        bool | None,
        Field(description="Draw on a log scale (for ranges over orders of magnitude; low > 0)."),
    ] = False


class HeldOutPart(BaseModel):
    """
    The part of the training split held out for validation (never trained on).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    fraction: Annotated[float, Field(description="Of each class.")]
    images: int
    indices_sha256: Annotated[
        str,
        Field(description="SHA-256 of the held-out indices, sorted, as little-endian int64."),
    ]


Epochs = TypeAliasType(
    "Epochs",
    Annotated[int, Field(description="Training epochs (paper: 240).", ge=1, le=100000)],
)


BatchSize = TypeAliasType(
    "BatchSize",
    Annotated[int, Field(description="Images per step (paper: 64).", ge=1, le=1048576)],
)


Lr = TypeAliasType(
    "Lr",
    Annotated[float, Field(description="Initial SGD learning rate.", gt=0.0, le=10.0)],
)


LrDecayEpoch = TypeAliasType("LrDecayEpoch", Annotated[int, Field(ge=1, le=100000)])


LrDecayEpochs = TypeAliasType(
    "LrDecayEpochs",
    Annotated[
        list[LrDecayEpoch],
        Field(
            description="Epochs after which the lr is multiplied by lr_decay_rate.",
            max_length=64,
        ),
    ],
)


LrDecayRate = TypeAliasType(
    "LrDecayRate",
    Annotated[float, Field(description="Multi-step decay factor.", gt=0.0, le=1.0)],
)


Momentum = TypeAliasType("Momentum", Annotated[float, Field(description="SGD momentum.", ge=0.0, lt=1.0)])


WeightDecay = TypeAliasType(
    "WeightDecay",
    Annotated[float, Field(description="SGD weight decay.", ge=0.0, le=1.0)],
)


Temperature = TypeAliasType(
    "Temperature",
    Annotated[float, Field(description="Distillation temperature T.", gt=0.0, le=100.0)],
)


CeWeight = TypeAliasType(
    "CeWeight",
    Annotated[float, Field(description="Weight of the cross-entropy term.", ge=0.0, le=1000.0)],
)


KdWeight = TypeAliasType(
    "KdWeight",
    Annotated[float, Field(description="Weight of the distillation term.", ge=0.0, le=1000.0)],
)


WarmupEpochs = TypeAliasType(
    "WarmupEpochs",
    Annotated[
        int,
        Field(
            description="Epochs over which the distillation weight ramps up linearly.",
            ge=0,
            le=100000,
        ),
    ],
)


DkdAlpha = TypeAliasType(
    "DkdAlpha",
    Annotated[float, Field(description="DKD target-class (TCKD) weight.", ge=0.0, le=1000.0)],
)


DkdBeta = TypeAliasType(
    "DkdBeta",
    Annotated[float, Field(description="DKD non-target (NCKD) weight.", ge=0.0, le=1000.0)],
)


NkdGamma = TypeAliasType(
    "NkdGamma",
    Annotated[float, Field(description="NKD non-target term weight.", ge=0.0, le=1000.0)],
)


CropPadding = TypeAliasType(
    "CropPadding",
    Annotated[
        int,
        Field(
            description="Zero padding of the small-image random crop (default size / 8: 4 at 32 px; 0: no crop).",
            ge=0,
            le=1024,
        ),
    ],
)


CropScaleMin = TypeAliasType(
    "CropScaleMin",
    Annotated[
        float,
        Field(
            description="Smallest area share of the large-image random resized crop (paper: 0.08).",
            gt=0.0,
            le=1.0,
        ),
    ],
)


LoaderWorkers = TypeAliasType(
    "LoaderWorkers",
    Annotated[
        int,
        Field(
            description="Data loader processes for large images (default: the worker's setting, else from its CPUs).",
            ge=0,
            le=256,
        ),
    ],
)


class Hyperparameters(BaseModel):
    """
    Training hyper-parameters. ``None`` (or absent) means the method's default.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    epochs: Annotated[Epochs | None, Field(description="Training epochs (paper: 240).")] = None
    batch_size: Annotated[BatchSize | None, Field(description="Images per step (paper: 64).")] = None
    lr: Annotated[Lr | None, Field(description="Initial SGD learning rate.")] = None
    lr_decay_epochs: Annotated[
        LrDecayEpochs | None,
        Field(description="Epochs after which the lr is multiplied by lr_decay_rate."),
    ] = None
    lr_decay_rate: Annotated[LrDecayRate | None, Field(description="Multi-step decay factor.")] = None
    momentum: Annotated[Momentum | None, Field(description="SGD momentum.")] = None
    weight_decay: Annotated[WeightDecay | None, Field(description="SGD weight decay.")] = None
    temperature: Annotated[Temperature | None, Field(description="Distillation temperature T.")] = None
    ce_weight: Annotated[CeWeight | None, Field(description="Weight of the cross-entropy term.")] = None
    kd_weight: Annotated[KdWeight | None, Field(description="Weight of the distillation term.")] = None
    warmup_epochs: Annotated[
        WarmupEpochs | None,
        Field(description="Epochs over which the distillation weight ramps up linearly."),
    ] = None
    dkd_alpha: Annotated[DkdAlpha | None, Field(description="DKD target-class (TCKD) weight.")] = None
    dkd_beta: Annotated[DkdBeta | None, Field(description="DKD non-target (NCKD) weight.")] = None
    nkd_gamma: Annotated[NkdGamma | None, Field(description="NKD non-target term weight.")] = None
    nkd_mode: Annotated[
        Literal["paper", "code"] | None,
        Field(description="'paper': target removed from NKD's non-target term; 'code': kept."),
    ] = None
    device: Annotated[
        str | None,
        Field(description="'auto' (CUDA if present), 'cpu', 'cuda' or 'cuda:N'."),
    ] = None
    precision: Annotated[
        Literal["auto", "fp32", "bf16"] | None,
        Field(description="'auto' (bf16 autocast on CUDA where supported, else fp32), 'fp32' or 'bf16' (CUDA)."),
    ] = None
    channels_last: Annotated[
        bool | None,
        Field(description="channels_last memory format on CUDA (default on)."),
    ] = None
    compile: Annotated[
        Literal["auto", "on", "off"] | None,
        Field(
            description="torch.compile of the teacher forward and the student step: 'auto' (on for long jobs), 'on', 'off'."
        ),
    ] = None
    flip: Annotated[
        bool | None,
        Field(
            description="Random horizontal flip in training (default on; off for digits). Turn it off for text, digits or images whose left and right differ (laterality)."
        ),
    ] = None
    crop_padding: Annotated[
        CropPadding | None,
        Field(description="Zero padding of the small-image random crop (default size / 8: 4 at 32 px; 0: no crop)."),
    ] = None
    crop_scale_min: Annotated[
        CropScaleMin | None,
        Field(description="Smallest area share of the large-image random resized crop (paper: 0.08)."),
    ] = None
    loader_workers: Annotated[
        LoaderWorkers | None,
        Field(
            description="Data loader processes for large images (default: the worker's setting, else from its CPUs)."
        ),
    ] = None
    early_stopping_patience: Annotated[
        int | None,
        Field(
            description="Stop when validation top-1 has not improved for this many consecutive epochs (at least 1; unset: train every epoch)."
        ),
    ] = None
    export: Annotated[
        Literal["best", "last"] | None,
        Field(
            description="Which weights to export: 'last' (the last epoch's, default) or 'best' (the epoch with the highest validation top-1, the earlier one on a tie)."
        ),
    ] = None


Scales = TypeAliasType(
    "Scales",
    Annotated[
        list[int],
        Field(
            description="SD methods only: the SDD pooling scales, each s splitting the final feature map into an s x s grid (default [1, 2, 4]). Other methods take none.",
            max_length=16,
        ),
    ],
)


Beta = TypeAliasType(
    "Beta",
    Annotated[
        float,
        Field(
            description="SD methods only: the weight of complementary regions in SDD (default and paper: 2; 0 keeps the consistent regions only). Other methods take none.",
            ge=0.0,
            le=1000.0,
        ),
    ],
)


ImageSize = TypeAliasType(
    "ImageSize",
    Annotated[
        int,
        Field(
            description="Train/eval image size; default follows the dataset.",
            ge=8,
            le=8192,
        ),
    ],
)


class JobError(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    code: Annotated[
        str,
        Field(description="e.g. 'dataset_error', 'teacher_error', 'non_finite', 'internal_error'."),
    ]
    message: str


class JobProtocol(BaseModel):
    """
    Which split chose (best epoch, early stopping, a sweep's choice) and which one the result reports.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    name: Literal["held_out", "literature"]
    validation_split: Annotated[str, Field(description="'val', or 'train (held-out part)'.")]
    test_split: Annotated[str | None, Field(description="'val' under held_out; null under literature.")] = None
    reported_on: Annotated[
        str,
        Field(description="'test' or 'val': the split of per_class, confusion and agreement_top1."),
    ]
    held_out: HeldOutPart | None = None
    val_top1: Annotated[
        float | None,
        Field(description="The exported student's top-1 on the validation split."),
    ] = None
    test_top1: Annotated[
        float | None,
        Field(description="The exported student's top-1 on the test split, once."),
    ] = None


class LatencyMeasurement(BaseModel):
    """
    The median time of one forward of ``batch`` images, and where and how it was measured.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    device: Annotated[
        Literal["cpu", "cuda"],
        Field(
            description="cpu: the exported ONNX student in onnxruntime; cuda: the PyTorch student (float32) on the GPU the job trained on, timed with CUDA events."
        ),
    ]
    batch: Annotated[int, Field(description="Images per forward (1 and 64).")]
    median_ms: Annotated[float, Field(description="Median milliseconds per forward over the timed runs.")]
    repeats: Annotated[int, Field(description="Timed runs (fewer for a slow student).")]
    warmup: Annotated[int, Field(description="Untimed runs before them.")]
    runtime: str
    hardware: Annotated[str, Field(description="The CPU's model name or the GPU's name.")]
    threads: Annotated[int | None, Field(description="onnxruntime's intra-op threads (CPU only).")] = None


class LimitsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    max_epochs: int
    max_batch_size: int
    max_image_size: int
    max_scale: int
    max_upload_bytes: int
    max_jobs_in_flight: Annotated[
        int,
        Field(description="Your jobs queued, running or cancelling at once; 0: no limit."),
    ]
    max_sweep_size: Annotated[int, Field(description="Member jobs one sweep may make.")]
    rate_limit_per_minute: Annotated[int, Field(description="Requests per minute per API token; 0: no limit.")]
    rate_limit_burst: Annotated[
        int,
        Field(description="Requests allowed at once before the per-minute rate applies."),
    ]


class MeasuredSpeed(BaseModel):
    """
    One kind of job: its median seconds per epoch and images/s over its newest epochs here.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    dataset: Annotated[
        str,
        Field(description="A built-in dataset, or one of your uploaded datasets (ds_…)."),
    ]
    image_size: Annotated[int, Field(description="The size the models saw.")]
    student: str
    distilled: Annotated[
        bool,
        Field(description="Whether the jobs distilled from a teacher (every method but 'ce')."),
    ]
    seconds_per_epoch: Annotated[
        float,
        Field(description="Median training seconds of one epoch (evaluation not counted)."),
    ]
    images_per_s: Annotated[float, Field(description="Median training images per second.")]
    epochs_measured: Annotated[
        int,
        Field(description="The epochs the medians are taken over (the newest, at most 50)."),
    ]
    jobs_measured: Annotated[int, Field(description="How many jobs those epochs come from.")]


class MeasuredThroughput(BaseModel):
    """
    A student's median training images/s at one image size, over every dataset: for an estimate
    where the dataset has no measurement (epochs × training images ÷ images/s).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    student: str
    image_size: int
    distilled: bool
    images_per_s: float
    epochs_measured: int
    jobs_measured: int


class MemberClassAccuracy(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    job_id: str
    configuration: str
    seed: int
    accuracy: Annotated[
        list[float | None],
        Field(description="Percent correct per class (null for a class without validation images)."),
    ]


class MemberCounts(BaseModel):
    """
    How many members are in each status.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    queued: int | None = 0
    running: int | None = 0
    cancelling: int | None = 0
    succeeded: int | None = 0
    failed: int | None = 0
    cancelled: int | None = 0
    pruned: int | None = 0


class MethodPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    name: str
    scale_decoupled: bool
    needs_teacher: bool
    hyperparameters: Annotated[
        dict[str, Any],
        Field(description="Defaults (the lr and DKD beta/NKD gamma may also depend on the student/teacher pair)."),
    ]


class MetricsPublic(BaseModel):
    """
    One row per finished epoch (epoch, lr, train_loss, val_top1, val_top5, ...), by epoch.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    data: list[dict[str, Any]]


class ModelPublic(BaseModel):
    """
    An uploaded model; name it as a job's teacher with ``{"model": id}``.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    id: str
    name: str | None
    arch: str
    num_classes: int
    size_bytes: int
    sha256: str
    created_at: AwareDatetime


class ModelsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    has_more: Annotated[bool, Field(description="True when more items follow this page.")]
    data: list[ModelPublic]


class PairedGain(BaseModel):
    """
    Final top-1 minus the baseline's on one split, paired by seed, with its 95% confidence interval
    and, once ``holm_adjusted`` saw its family, the Holm-corrected interval and decision.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    mean: Annotated[float, Field(description="Mean difference in percentage points.")]
    std: Annotated[
        float | None,
        Field(description="Sample standard deviation of the differences (null with one seed)."),
    ]
    n: Annotated[int, Field(description="Seeds paired with the baseline.")]
    half_width: Annotated[
        float | None,
        Field(description="t_{0.975, n-1} · std / √n; null with one seed (no interval)."),
    ]
    low: float | None
    high: float | None
    seeds: list[int]
    split: Annotated[str | None, Field(description="The split the gain is measured on: test or val.")] = "val"
    p_value: Annotated[
        float | None,
        Field(description="Two-sided p of the paired t test of no gain (null with one seed)."),
    ] = None
    family_size: Annotated[
        int | None,
        Field(description="Configurations in the Holm family this gain was corrected in (0: not corrected)."),
    ] = 0
    adjusted_alpha: Annotated[
        float | None,
        Field(description="The level Holm's step tested this gain at: 0.05 / (m − k + 1)."),
    ] = None
    adjusted_low: Annotated[float | None, Field(description="The Holm-adjusted interval's lower end.")] = None
    adjusted_high: float | None = None
    beats_baseline: Annotated[
        bool | None,
        Field(description="Holm rejects no gain: the adjusted interval is above 0 (at least 2 seeds)."),
    ] = False


class PartTargetPublic(BaseModel):
    """
    Where to PUT one part's bytes.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    number: int
    url: Annotated[
        str,
        Field(
            description="A presigned object-store URL (send no Authorization header), or this API's /v1/datasets/uploads/{id}/parts/{number} (send your token and X-Content-SHA256)."
        ),
    ]
    through_api: Annotated[
        bool,
        Field(description="True when url is this API's (a path to join to the server's URL)."),
    ]
    expires_at: Annotated[
        AwareDatetime | None,
        Field(description="When a presigned URL stops working; ask for a new one then."),
    ]


class PartTargetsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    data: list[PartTargetPublic]


class PartTargetsRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    numbers: Annotated[
        list[int],
        Field(
            description="Part numbers (from 1) to send next.",
            max_length=100,
            min_length=1,
        ),
    ]


class PerClassReport(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    available: bool
    note: str | None
    classes: list[str]
    members: list[MemberClassAccuracy]
    configuration: Annotated[
        str | None,
        Field(description="The SD configuration whose per-class gains are listed."),
    ]
    gains: Annotated[list[ClassGain], Field(description="Largest first.")]


class Progress(ProgressMethods):
    """
    How far the job is: finished epochs, and while it runs, the epoch in progress by batches.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    epoch: Annotated[int, Field(description="Last finished epoch (0 before the first one ends).")]
    epochs: Annotated[int, Field(description="Epochs the job trains in all.")]
    batch: Annotated[
        int | None,
        Field(
            description="Batches done of the epoch in progress (epoch + 1); null when the job is not running or no batch of that epoch has been reported yet. Updated every few seconds."
        ),
    ] = None
    batches: Annotated[
        int | None,
        Field(description="Batches per epoch; null when the job is not running."),
    ] = None


class Pruning(BaseModel):
    """
    Successive halving: rungs at ``min_epochs · reduction_factor^k`` epochs, keeping the best 1/``reduction_factor``.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    min_epochs: Annotated[int | None, Field(description="Epochs before the first rung.", ge=1)] = 1
    reduction_factor: Annotated[
        int | None,
        Field(description="η: each rung keeps the best 1/η of its trials.", ge=2, le=10),
    ] = 3


class ReceivedPart(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    number: int
    size_bytes: int
    etag: Annotated[
        str,
        Field(description="The object store's ETag of the part (the local store's: its SHA-256)."),
    ]


class Recommendation(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    text: str
    configuration: Annotated[str | None, Field(description="The configuration's label it names, if any.")]
    beats_baseline: bool
    protocol: Annotated[str, Field(description="held_out, literature, or mixed (members disagree).")]
    chosen_on: Annotated[str, Field(description="The split the configuration is chosen on: val.")]
    reported_on: Annotated[str, Field(description="The split its gain is reported on: test or val.")]
    correction: str
    family_size: Annotated[
        int,
        Field(description="SD configurations compared (with at least 2 paired seeds)."),
    ]


class RungReport(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    rung: Annotated[int, Field(description="From 1.")]
    epoch: int
    decided: bool
    contenders: int
    kept: list[str]
    pruned: list[str]
    lowest_kept_top1: float | None


class SDDefaults(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    scales: list[int]
    beta: float


BetaItem = TypeAliasType("BetaItem", Annotated[float, Field(ge=0.0)])


TemperatureItem = TypeAliasType("TemperatureItem", Annotated[float, Field(gt=0.0)])


class SearchSpace(BaseModel):
    """
    Where the trials are drawn from: a range or a list of values per field; fields left out come from ``base``.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    beta: Annotated[
        FloatRange | list[BetaItem] | None,
        Field(description="β, the weight of the complementary regions (SD methods): a range or values."),
    ] = None
    temperature: Annotated[
        FloatRange | list[TemperatureItem] | None,
        Field(description="The distillation temperature T: a range or values."),
    ] = None
    scales: Annotated[
        list[list[int]] | None,
        Field(description="Scale lists to choose from, e.g. [[1, 2], [1, 2, 4]]."),
    ] = None
    student: Annotated[list[str] | None, Field(description="Student architectures to choose from.")] = None


class StudentCost(BaseModel):
    """
    The student's parameters, FLOPs per image and measured latencies.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    parameters: int
    flops_per_image: Annotated[
        int | None,
        Field(
            description="FLOPs of one forward of one image at image_size, as PyTorch's FLOP counter counts them (2 per multiply-add of convolutions and matrix products); null when it could not count them."
        ),
    ] = None
    image_size: Annotated[int, Field(description="The image size the FLOPs and latencies are for.")]
    latency: Annotated[
        list[LatencyMeasurement] | None,
        Field(description="One per device and batch size measured."),
    ] = None
    skipped: Annotated[
        dict[str, str] | None,
        Field(description="Why a figure is missing, by device (cpu, cuda) or 'flops': e.g. no GPU on the worker."),
    ] = None


class Summary(BaseModel):
    """
    Mean and sample standard deviation of n values (std null below 2 values, both null at 0).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    mean: float | None
    std: float | None
    n: int


Name = TypeAliasType(
    "Name",
    Annotated[str, Field(description="A name to recognise the sweep by.", max_length=200)],
)


SeedItem = TypeAliasType("SeedItem", Annotated[int, Field(ge=0)])


class SweepGrid(BaseModel):
    """
    The values to sweep: each field a list of distinct values; fields left out come from ``base``.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    method: Annotated[
        list[Literal["ce", "kd", "dkd", "nkd", "sd-kd", "sd-dkd", "sd-nkd"]] | None,
        Field(description="Training methods, e.g. ['kd', 'sd-kd', 'sd-dkd']."),
    ] = None
    student: Annotated[list[str] | None, Field(description="Student architectures.")] = None
    scales: Annotated[
        list[list[int]] | None,
        Field(description="SDD scale lists, e.g. [[1, 2], [1, 2, 4]] (SD methods only)."),
    ] = None
    beta: Annotated[
        list[BetaItem] | None,
        Field(description="Weights of complementary regions (SD methods only; 0 keeps the consistent regions only)."),
    ] = None
    temperature: Annotated[
        list[TemperatureItem] | None,
        Field(description="Distillation temperatures T (the hyper-parameter)."),
    ] = None
    seed: Annotated[list[SeedItem] | None, Field(description="Seeds, e.g. [0, 1, 2].")] = None


class SweepGroupPublic(BaseModel):
    """
    A lockstep group: members that draw the same batches (they agree on ``sdd_core.lockstep``'s fields).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    key: str
    members: Annotated[list[str], Field(description="The member jobs' ids.")]


class SweepProgress(BaseModel):
    """
    Epochs finished over epochs planned, summed over the members, and the members by status.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    epoch: Annotated[int, Field(description="Epochs finished, summed over the members.")]
    epochs: Annotated[int, Field(description="Epochs planned, summed over the members.")]
    fraction: Annotated[float, Field(description="epoch / epochs (0 to 1).")]
    members: MemberCounts


class SweepRequestPublic(BaseModel):
    """
    The sweep as submitted: the base job (every field as parsed) and the grid's varied fields, or the
    search; POST /v1/sweeps takes it back as it is (a search draws the same trials again).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    base: dict[str, Any]
    grid: dict[str, list[Any]] | None = None
    search: dict[str, Any] | None = None


class SweepSearch(BaseModel):
    """
    A search: ``trials`` configurations drawn from ``space``, trained together and pruned at rungs.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    trials: Annotated[int, Field(description="How many configurations to draw and start.", ge=2)]
    space: SearchSpace
    sampler: Annotated[
        Literal["qmc", "random"] | None,
        Field(description="qmc: a scrambled Sobol sequence over the ranges (even cover); random: independent draws."),
    ] = "qmc"
    seed: Annotated[
        int | None,
        Field(description="The sampler's seed: the same seed draws the same trials.", ge=0),
    ] = 0
    pruning: Annotated[
        Pruning | None,
        Field(description="Successive halving on validation top-1; null trains every trial to the end."),
    ] = None


class SweepSummaryPublic(SweepMethods):
    """
    A sweep without its members' details: what lists show.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    id: str
    name: str | None
    status: Annotated[
        JobStatus,
        Field(
            description="Derived from the members: queued (all queued), cancelling (every unfinished member is), running (some unfinished), succeeded (all, or all but a search's pruned trials), failed (all finished, some failed), cancelled (all finished, none failed, some cancelled)."
        ),
    ]
    progress: SweepProgress
    request: SweepRequestPublic
    trials: Annotated[
        list[dict[str, Any]] | None,
        Field(description="A search's trials, in order: the values drawn for each (null for a grid)."),
    ] = None
    metadata: dict[str, Any] | None
    member_count: int
    created_at: AwareDatetime
    updated_at: AwareDatetime


class SweepsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    has_more: Annotated[bool, Field(description="True when more items follow this page.")]
    data: list[SweepSummaryPublic]


class TeacherRef(BaseModel):
    """
    Where the teacher's weights come from: a job of yours, a model you uploaded, or an
    architecture's pretrained weights (``{"arch": "tv/resnet50", "pretrained": true}``).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    job: Annotated[
        str | None,
        Field(description="A succeeded job of yours; its distilled student is the teacher."),
    ] = None
    model: Annotated[str | None, Field(description="A model you uploaded with POST /v1/models.")] = None
    arch: Annotated[
        str | None,
        Field(
            description="A tv/ or timm/ architecture whose pretrained weights teach (with pretrained: true); they predict their own dataset's classes (ImageNet's 1000), which the job's dataset must have."
        ),
    ] = None
    pretrained: Annotated[bool | None, Field(description="true, with arch.")] = None


class TrackedRun(BaseModel):
    """
    The job's run in an experiment tracker.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    run_id: Annotated[str, Field(description="The run's id in the tracker.")]
    url: Annotated[
        str | None,
        Field(
            description="The run's page in the tracker's UI; null where it has none yet (a W&B run kept offline until its operator syncs it)."
        ),
    ] = None


class TrialReport(BaseModel):
    """
    One trial: the values drawn for it, how far it went and what it reached.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    job_id: str
    trial: Annotated[int, Field(description="The trial's number, from 1.")]
    values: Annotated[
        dict[str, Any],
        Field(description="The values drawn: student, scales, beta, temperature."),
    ]
    status: str
    rungs_passed: Annotated[
        int,
        Field(description="Rungs it went on from (0: pruned at the first, or not there yet)."),
    ]
    pruned_at_rung: Annotated[int | None, Field(description="The rung (from 1) that pruned it, if one did.")]
    rung_top1: Annotated[
        list[float | None],
        Field(description="Its val top-1 at each rung's epoch it reached."),
    ]
    epochs: Annotated[int, Field(description="Epochs it finished.")]
    val_top1: Annotated[
        float | None,
        Field(description="Its last recorded val top-1 (the final one when it succeeded)."),
    ]
    test_top1: Annotated[
        float | None,
        Field(description="Test top-1 of its exported student (held_out, succeeded)."),
    ]
    images_trained: int


Parts = TypeAliasType("Parts", Annotated[list[CompletedPart], Field(max_length=10000)])


class UploadComplete(BaseModel):
    """
    Complete an upload; ``parts`` (optional) are checked against what the store holds.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    parts: Parts | None = None


Name1 = TypeAliasType(
    "Name1",
    Annotated[
        str,
        Field(
            description="The dataset's name (default: the file name).",
            max_length=200,
            min_length=1,
        ),
    ],
)


PartSize = TypeAliasType(
    "PartSize",
    Annotated[
        int,
        Field(
            description="Bytes per part (the last one is shorter); at most 10000 parts. Default: 16 MiB, more for files over 160 GB. An object store takes parts of at least 5 MiB.",
            ge=65536,
            le=1073741824,
        ),
    ],
)


class UploadCreate(BaseModel):
    """
    A dataset archive about to be sent in parts.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    filename: Annotated[
        str,
        Field(
            description="The archive's name: .zip, .tar, .tar.gz/.tgz, .tar.bz2 or .tar.xz.",
            max_length=255,
            min_length=1,
        ),
    ]
    size: Annotated[
        int,
        Field(
            description="The archive's size in bytes (counted against your storage quota).",
            ge=1,
        ),
    ]
    sha256: Annotated[
        str,
        Field(
            description="The archive's SHA-256 (hex), checked once it is whole.",
            pattern="^[0-9a-f]{64}$",
        ),
    ]
    name: Annotated[Name1 | None, Field(description="The dataset's name (default: the file name).")] = None
    part_size: Annotated[
        PartSize | None,
        Field(
            description="Bytes per part (the last one is shorter); at most 10000 parts. Default: 16 MiB, more for files over 160 GB. An object store takes parts of at least 5 MiB."
        ),
    ] = None


class UploadPublic(BaseModel):
    """
    A resumable upload: send the ``missing`` parts, then complete it.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    id: str
    status: Annotated[
        Literal["open", "completing", "completed", "aborted", "expired"],
        Field(description="open (takes parts), completing, completed (see dataset_id), aborted or expired."),
    ]
    name: Annotated[str, Field(description="The name the dataset will have.")]
    filename: str
    size_bytes: int
    sha256: str
    part_size: Annotated[int, Field(description="Bytes per part; the last part holds the rest.")]
    parts: Annotated[int, Field(description="How many parts the file is sent in.")]
    direct: Annotated[
        bool,
        Field(description="True: parts go straight to the object store (presigned URLs)."),
    ]
    dataset_id: Annotated[str, Field(description="The dataset the upload becomes once completed.")]
    received: Annotated[
        list[ReceivedPart],
        Field(description="Parts the store holds at their expected size."),
    ]
    missing: Annotated[
        list[int],
        Field(description="Part numbers still to send (empty once every part is in)."),
    ]
    targets: Annotated[
        list[PartTargetPublic],
        Field(
            description="Where to send the first missing parts (up to 100); POST .../parts for others or for fresh URLs."
        ),
    ]
    created_at: AwareDatetime
    expires_at: Annotated[
        AwareDatetime,
        Field(description="When it expires if nothing more is asked of it (its parts deleted)."),
    ]


class UploadsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    has_more: Annotated[bool, Field(description="True when more items follow this page.")]
    data: list[UploadPublic]


class WeightsRef(BaseModel):
    """
    Weights of yours: exactly one of ``job`` (a succeeded job's student) or ``model`` (an upload).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    job: Annotated[
        str | None,
        Field(description="A succeeded job of yours; its distilled student."),
    ] = None
    model: Annotated[str | None, Field(description="A model you uploaded with POST /v1/models.")] = None


class WithinAnswer(BaseModel):
    """
    The fastest configuration no more than ``within`` points below the teacher, or why there is none.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    within: float
    teacher_top1: float | None
    configuration: Annotated[
        str | None,
        Field(description="The configuration's label; null when none is close enough."),
    ]
    student: str | None
    top1: float | None
    latency_ms: float | None
    text: str


class CatalogPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    architectures: Annotated[
        list[ArchitecturePublic],
        Field(description="The zoo and tv/ models, and the timm/ models whose weights this server has cached."),
    ]
    timm_architectures: Annotated[
        int,
        Field(
            description="How many timm/<name> architectures a job may name (any of timm.list_models()), listed or not."
        ),
    ]
    datasets: list[BuiltinDatasetPublic]
    methods: list[MethodPublic]
    defaults: SDDefaults
    limits: LimitsPublic
    measured_speeds: Annotated[
        list[MeasuredSpeed],
        Field(description="This service's recent training speeds, by kind."),
    ]
    measured_throughput: Annotated[
        list[MeasuredThroughput],
        Field(description="Images/s by student and image size."),
    ]


class ConfigurationReport(BaseModel):
    """
    One configuration of a sweep (a member's spec minus its seed) over its seeds.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    label: str
    method: str
    student: str
    scales: Annotated[list[int] | None, Field(description="SD methods only.")]
    beta: Annotated[float | None, Field(description="SD methods only.")]
    temperature: float | None
    members: Annotated[list[str], Field(description="Member job ids, every seed.")]
    seeds: Annotated[
        list[int],
        Field(description="Seeds whose member succeeded (the statistics' n)."),
    ]
    final_top1: Summary
    best_top1: Summary
    final_top5: Summary
    best_top5: Summary
    test_top1: Annotated[
        Summary,
        Field(description="Final test top-1 (protocol held_out); n 0 otherwise."),
    ]
    wall_seconds: Summary
    images_per_s: Summary
    is_baseline: bool
    baseline: Annotated[
        str | None,
        Field(description="The base configuration this one is compared with (its own base, else kd)."),
    ]
    baseline_method: str | None
    gain: Annotated[
        PairedGain | None,
        Field(description="Over the baseline on the reported split, Holm-corrected."),
    ]


class CostReport(BaseModel):
    """
    Accuracy against latency and parameters, the Pareto frontiers and the answer to ``within``.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    available: bool
    note: str | None
    accuracy: str
    latency: Annotated[str, Field(description="Which latency the frontier and within use.")]
    hardware: Annotated[
        list[str],
        Field(description="Where those latencies were measured (CPU model names)."),
    ]
    teacher_top1: Annotated[
        float | None,
        Field(description="The teacher's top-1 on the members' split, percent."),
    ]
    teacher_split: Annotated[
        str | None,
        Field(description="The split of teacher_top1: test when every member recorded it, else val."),
    ]
    points: list[CostPoint]
    within: Annotated[
        WithinAnswer | None,
        Field(description="Null unless the report was asked for ?within=."),
    ]


class JobCreate(SubmissionMethods):
    """
    A distillation job to run. Hyper-parameters left out take the method's default.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    dataset: Annotated[
        str,
        Field(
            description="A built-in dataset (cifar10, cifar100, digits) or an uploaded dataset's id (ds_…).",
            max_length=40,
            min_length=1,
        ),
    ]
    student: Annotated[
        str,
        Field(
            description="Student architecture from the model zoo.",
            max_length=200,
            min_length=1,
        ),
    ]
    method: Annotated[
        Literal["ce", "kd", "dkd", "nkd", "sd-kd", "sd-dkd", "sd-nkd"],
        Field(description="Training method; sd-* are the scale decoupled variants."),
    ]
    scales: Annotated[
        Scales | None,
        Field(
            description="SD methods only: the SDD pooling scales, each s splitting the final feature map into an s x s grid (default [1, 2, 4]). Other methods take none."
        ),
    ] = None
    beta: Annotated[
        Beta | None,
        Field(
            description="SD methods only: the weight of complementary regions in SDD (default and paper: 2; 0 keeps the consistent regions only). Other methods take none."
        ),
    ] = None
    seed: Annotated[
        int | None,
        Field(
            description="Seed of every random number generator.",
            ge=0,
            le=9223372036854776000,
        ),
    ] = 0
    image_size: Annotated[
        ImageSize | None,
        Field(description="Train/eval image size; default follows the dataset."),
    ] = None
    protocol: Annotated[
        Literal["held_out", "literature"] | None,
        Field(
            description="held_out: a stratified part of the training split (holdout_fraction) chooses the best epoch and a sweep's configuration, and the dataset's val split is the test split, evaluated once on the exported student; literature: the val split chooses and reports, as the SDD paper's CIFAR tables."
        ),
    ] = "held_out"
    holdout_fraction: Annotated[
        float | None,
        Field(
            description="With protocol held_out: the part of each class of the training split held out for validation (drawn from seed, never trained on).",
            gt=0.0,
            le=0.5,
        ),
    ] = 0.1
    hyperparameters: Hyperparameters | None = None
    teacher: Annotated[
        TeacherRef | None,
        Field(description="Required by every method but 'ce' (which must leave it null)."),
    ] = None
    metadata: Annotated[
        dict[str, Any] | None,
        Field(description="Free-form JSON object stored with the job (at most 16 KiB)."),
    ] = None
    name: Annotated[
        str | None,
        Field(description="What you call the job, shown instead of its id (1 to 100 printable characters)."),
    ] = None
    devices: Annotated[
        int | None,
        Field(
            description="Devices of one node that train the job together (torch.distributed: NCCL on GPUs, gloo on CPUs); it waits for a worker started with `sdd worker --devices N`. batch_size stays the global batch and must split evenly over them.",
            ge=1,
            le=8,
        ),
    ] = 1
    sync_batchnorm: Annotated[
        bool | None,
        Field(description="With devices > 1: batch norms use the whole global batch's statistics (SyncBatchNorm)."),
    ] = False
    init: Annotated[
        Literal["scratch", "pretrained"] | WeightsRef | None,
        Field(
            description='The student\'s first weights: \'scratch\', \'pretrained\' (its tv/ or timm/ architecture\'s weights; the head starts fresh when the class counts differ) or a warm start from weights of yours of the same architecture: {"model": "mdl_…"} or {"job": "job_…"}.',
            validate_default=True,
        ),
    ] = "scratch"
    tags: Annotated[
        list[str] | None,
        Field(
            description="Labels to find the job by (GET /v1/jobs?tag=...): at most 16, each 1 to 40 of A-Z a-z 0-9 . _ : -; stored once each, sorted."
        ),
    ] = None
    tracking: Annotated[
        list[Literal["mlflow", "wandb"]] | None,
        Field(
            description="Experiment trackers to log the run to, by name only: 'mlflow' and/or 'wandb'. The tracking server, project and credentials are the deployment's (its operator configures them); a job never names them. The job's `tracking` then links each run. TensorBoard event files are stored for every job."
        ),
    ] = None


class JobResult(BaseModel):
    """
    Validation accuracy of the final student, in percent, which weights it is, and what it costs to run.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    val_top1: float | None = None
    val_top5: float | None = None
    best_val_top1: float | None = None
    exported_epoch: Annotated[
        int | None,
        Field(description="The epoch whose weights the student is: the last, or the best with export 'best'."),
    ] = None
    stopped_early_at_epoch: Annotated[
        int | None,
        Field(description="The last epoch trained when early_stopping_patience stopped the job; null otherwise."),
    ] = None
    student_formats: Annotated[
        list[str] | None,
        Field(
            description="The formats GET /student?format= serves: safetensors, and onnx / torchscript when exported."
        ),
    ] = None
    cost: Annotated[
        StudentCost | None,
        Field(description="What the student costs to run: parameters, FLOPs per image, latency on the worker."),
    ] = None
    teacher_val_top1: Annotated[
        float | None,
        Field(description="The teacher's val top-1 on this job's val split."),
    ] = None
    test_top1: Annotated[
        float | None,
        Field(
            description="With protocol held_out: the exported student's top-1 on the test split (the dataset's val split), evaluated once; val_top1 is then the held-out validation part's."
        ),
    ] = None
    teacher_test_top1: Annotated[
        float | None,
        Field(description="With held_out: the teacher's top-1 on the test split."),
    ] = None
    protocol: Annotated[
        JobProtocol | None,
        Field(description="Which split chose and which one reports (the card's)."),
    ] = None


class JobSpecPublic(BaseModel):
    """
    The job as submitted, with every default filled in (what the worker trains).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    dataset: str
    student: str
    teacher: TeacherRef | None
    init: Annotated[
        Literal["scratch", "pretrained"] | WeightsRef | None,
        Field(
            description="Where the student's first weights came from.",
            validate_default=True,
        ),
    ] = "scratch"
    devices: Annotated[int | None, Field(description="Devices of one node training the job together.")] = 1
    sync_batchnorm: Annotated[
        bool | None,
        Field(description="Batch norms over the global batch (devices > 1)."),
    ] = False
    method: str
    scales: Annotated[
        list[int] | None,
        Field(description="SD methods only (null for the others): the pooling scales."),
    ] = None
    beta: Annotated[
        float | None,
        Field(description="SD methods only (null for the others): the complementary weight."),
    ] = None
    seed: int
    image_size: Annotated[
        int | None,
        Field(description="The size the models see; filled in from the dataset when omitted."),
    ]
    protocol: Annotated[
        Literal["held_out", "literature"] | None,
        Field(
            description="held_out: a held-out part of the training split chose, the val split is the test split; literature: the val split chose and reports (jobs stored before protocols existed)."
        ),
    ] = "literature"
    holdout_fraction: Annotated[
        float | None,
        Field(description="With held_out: the part of each class held out for validation."),
    ] = 0.1
    hyperparameters: Hyperparameters
    tracking: Annotated[
        list[str] | None,
        Field(description="The experiment trackers the job logs its run to (mlflow, wandb)."),
    ] = None


class JobTracking(BaseModel):
    """
    Where the job's run is logged, by tracker (a tracker is absent until its run has started).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    mlflow: TrackedRun | None = None
    wandb: TrackedRun | None = None


class SearchReport(BaseModel):
    """
    How the search went: trials, rungs and cost (``GET /v1/sweeps/{id}/report`` → ``search``).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    trials: list[TrialReport]
    rungs: list[RungReport]
    sampler: str
    rule: Annotated[str, Field(description="The pruning rule, stated.")]
    images_trained: Annotated[int, Field(description="Student images trained by every trial so far.")]
    grid_images: Annotated[int | None, Field(description="What training every trial to the end costs.")]
    fraction_of_grid: float | None
    best: Annotated[
        str | None,
        Field(description="The trial with the highest final val top-1 among the finished."),
    ]


class SweepCreate(BaseModel):
    """
    A sweep to run: ``base`` (a job, as POST /v1/jobs takes it) with the ``grid``'s fields varied, or
    with ``search``'s trials drawn and pruned.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    name: Annotated[Name | None, Field(description="A name to recognise the sweep by.")] = None
    base: Annotated[
        JobCreate,
        Field(description="The job every member starts from (the POST /v1/jobs body)."),
    ]
    grid: Annotated[
        SweepGrid | None,
        Field(description="The fields to vary and their values; members are the cross product. Or give `search`."),
    ] = None
    search: Annotated[
        SweepSearch | None,
        Field(description="Trials drawn from a space and pruned at rungs on validation top-1, instead of a grid."),
    ] = None
    metadata: Annotated[
        dict[str, Any] | None,
        Field(description="Free-form JSON object stored with the sweep (at most 16 KiB)."),
    ] = None


class SweepReport(SweepReportMethods):
    """
    Which configuration, by how much, how sure: the sweep's report (``GET /v1/sweeps/{id}/report``).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    sweep_id: str
    status: JobStatus
    members: Annotated[dict[str, int], Field(description="Members by status.")]
    configurations: list[ConfigurationReport]
    recommendation: Recommendation
    per_class: PerClassReport
    confusion: ConfusionReport | None
    cost: CostReport
    notes: list[str]
    search: SearchReport | None = None


class JobPublic(JobMethods):
    """
    A job: its spec, where it stands, and its outcome.
    """

    model_config = ConfigDict(
        extra="allow",
    )
    id: str
    name: Annotated[
        str | None,
        Field(description="What you called the job (null: it is shown by its id)."),
    ] = None
    tags: Annotated[list[str] | None, Field(description="The job's tags, sorted.")] = None
    status: JobStatus
    spec: JobSpecPublic
    request: Annotated[
        dict[str, Any],
        Field(
            description="The job's fields as submitted, before the service filled in its defaults (metadata, name and tags apart): the body that submits a copy of it, where what the source left to the service is left to it again. A job submitted before requests were kept has its spec here."
        ),
    ]
    metadata: dict[str, Any] | None
    progress: Progress
    result: Annotated[JobResult | None, Field(description="Null until the job has a result.")]
    error: Annotated[JobError | None, Field(description="Set when the job failed.")]
    status_reason: Annotated[
        str | None,
        Field(
            description="Why a search's trial was pruned (its rung, its val top-1 and the lowest kept); while it still runs, its worker stops it at the next batch."
        ),
    ] = None
    sweep_id: Annotated[
        str | None,
        Field(description="The sweep this job is a member of (null for a job submitted alone)."),
    ] = None
    tracking: Annotated[
        JobTracking | None,
        Field(description="The runs in the experiment trackers the job asked for; null when it asked for none."),
    ] = None
    created_at: AwareDatetime
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None


class JobsPublic(BaseModel):
    model_config = ConfigDict(
        extra="allow",
    )
    has_more: Annotated[bool, Field(description="True when more items follow this page.")]
    data: list[JobPublic]


class SweepPublic(SweepMethods):
    """
    A sweep and its member jobs (each a normal job, also in GET /v1/jobs?sweep_id=…).
    """

    model_config = ConfigDict(
        extra="allow",
    )
    id: str
    name: str | None
    status: Annotated[
        JobStatus,
        Field(
            description="Derived from the members: queued (all queued), cancelling (every unfinished member is), running (some unfinished), succeeded (all, or all but a search's pruned trials), failed (all finished, some failed), cancelled (all finished, none failed, some cancelled)."
        ),
    ]
    progress: SweepProgress
    request: SweepRequestPublic
    trials: Annotated[
        list[dict[str, Any]] | None,
        Field(description="A search's trials, in order: the values drawn for each (null for a grid)."),
    ] = None
    metadata: dict[str, Any] | None
    member_count: int
    created_at: AwareDatetime
    updated_at: AwareDatetime
    members: Annotated[
        list[JobPublic],
        Field(description="The member jobs, in the grid's order (the seed varies fastest)."),
    ]
    groups: Annotated[list[SweepGroupPublic], Field(description="The members' lockstep groups.")]
