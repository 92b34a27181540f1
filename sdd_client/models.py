"""The types :class:`sdd_client.SDDClient` returns, by the names the client gives them.

The models are generated from the server's OpenAPI document (``sdd_client.generated_models``, made
by ``scripts/generate_client_models.py``), so their fields, types and help texts are the server's;
this module names them as the client always has (``Job`` is the server's ``JobPublic``). Every
model keeps fields it does not know, so a newer server that adds fields never breaks an older
client. ``JobStatus`` is ``sdd_client.job_status``'s, the server's own; what the client adds to
the models (``job.is_terminal``, ``report.configuration_of``, ...) is in ``sdd_client.model_methods``.

``EpochRow`` is the one hand-written model: the server documents a job's metrics rows as free-form
objects (whatever the trainer recorded), and ``EpochRow`` types the keys its epochs carry.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sdd_client.generated_models import ArchitecturePublic as Architecture
from sdd_client.generated_models import BuiltinDatasetPublic as BuiltinDataset
from sdd_client.generated_models import CatalogPublic as Catalog
from sdd_client.generated_models import CheckpointPublic as Checkpoint
from sdd_client.generated_models import (
    ClassGain,
    CostPoint,
    CostReport,
    Hyperparameters,
    JobError,
    JobResult,
    LatencyMeasurement,
    MeasuredSpeed,
    MeasuredThroughput,
    MemberClassAccuracy,
    MemberCounts,
    PairedGain,
    Progress,
    Recommendation,
    RungReport,
    SDDefaults,
    SearchReport,
    StudentCost,
    SweepProgress,
    SweepReport,
    TeacherRef,
    TrialReport,
    WeightsRef,
    WithinAnswer,
)
from sdd_client.generated_models import ConfigurationReport as SweepConfiguration
from sdd_client.generated_models import ConfusionReport as Confusion
from sdd_client.generated_models import DatasetEventPublic as DatasetEvent
from sdd_client.generated_models import DatasetPublic as Dataset
from sdd_client.generated_models import EventPublic as Event
from sdd_client.generated_models import JobCreate as JobSubmission
from sdd_client.generated_models import JobPublic as Job
from sdd_client.generated_models import JobSpecPublic as JobSpec
from sdd_client.generated_models import LimitsPublic as Limits
from sdd_client.generated_models import MethodPublic as Method
from sdd_client.generated_models import ModelPublic as UploadedModel
from sdd_client.generated_models import PartTargetPublic as PartTarget
from sdd_client.generated_models import PerClassReport as PerClass
from sdd_client.generated_models import Summary as Stat
from sdd_client.generated_models import SweepGroupPublic as SweepGroup
from sdd_client.generated_models import SweepPublic as Sweep
from sdd_client.generated_models import SweepSummaryPublic as SweepSummary
from sdd_client.generated_models import UploadPublic as Upload
from sdd_client.job_status import JobStatus

__all__ = [
    "Architecture",
    "BuiltinDataset",
    "Catalog",
    "Checkpoint",
    "ClassGain",
    "Confusion",
    "CostPoint",
    "CostReport",
    "Dataset",
    "DatasetEvent",
    "EpochRow",
    "Event",
    "Hyperparameters",
    "Job",
    "JobError",
    "JobResult",
    "JobSpec",
    "JobStatus",
    "JobSubmission",
    "LatencyMeasurement",
    "Limits",
    "MeasuredSpeed",
    "MeasuredThroughput",
    "MemberClassAccuracy",
    "MemberCounts",
    "Method",
    "PairedGain",
    "PartTarget",
    "PerClass",
    "Progress",
    "Recommendation",
    "RungReport",
    "SDDefaults",
    "SearchReport",
    "Stat",
    "StudentCost",
    "Sweep",
    "SweepConfiguration",
    "SweepGroup",
    "SweepProgress",
    "SweepReport",
    "SweepSummary",
    "TeacherRef",
    "TrialReport",
    "Upload",
    "UploadedModel",
    "WeightsRef",
    "WithinAnswer",
]


class EpochRow(BaseModel):
    """One finished epoch's metrics (accuracies in percent), a row of ``GET /v1/jobs/{id}/metrics``."""

    model_config = ConfigDict(extra="allow")

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
