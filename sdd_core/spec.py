"""The job specification: one schema shared by the CLI, the trainer and the REST API.

A spec says *what* to train: dataset, student, teacher, method, SDD scales and beta, seed and the
hyper-parameters. Hyper-parameters left out (or ``null``) take the method's default from the SDD
paper and its code (see ``method_defaults``), so a validated ``JobSpec`` always carries every
value it will be trained with.

Checks here need no model or data: names, ranges and combinations. Checks that need the models
(class counts, feature-map sizes) live in ``sdd_core.trainer.compatibility``.
"""
from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sdd_core.data import is_known_dataset, list_datasets
from sdd_core.models import list_models

Method = Literal["ce", "kd", "dkd", "nkd", "sd-kd", "sd-dkd", "sd-nkd"]
METHODS: tuple[str, ...] = get_args(Method)
SD_METHODS = frozenset({"sd-kd", "sd-dkd", "sd-nkd"})
NKDMode = Literal["paper", "code"]
Precision = Literal["fp32", "bf16"]

# Students trained with lr 0.01 instead of 0.05 in the paper's CIFAR-100 recipe.
_LOW_LR_STUDENTS = frozenset({"shufflenetv1", "shufflenetv2", "mobilenetv2"})
# (teacher, student) pairs whose DKD beta / NKD gamma differ from 8 in the paper's recipe.
_PAIR_DKD_BETA = {
    ("vgg13", "vgg8"): 6.0,
    ("vgg13", "mobilenetv2"): 6.0,
    ("wrn_40_2", "wrn_16_2"): 6.0,
    ("wrn_40_2", "wrn_40_1"): 6.0,
    ("resnet56", "resnet20"): 2.0,
    ("resnet110", "resnet32"): 2.0,
}


def base_loss_of(method: str) -> str | None:
    """The per-row distillation loss of a method: ``kd``, ``dkd``, ``nkd``, or None for ``ce``."""
    if method == "ce":
        return None
    return method.removeprefix("sd-")


class Hyperparameters(BaseModel):
    """Training hyper-parameters. ``None`` (or absent) means the method's default."""

    model_config = ConfigDict(extra="forbid")

    epochs: int | None = Field(None, ge=1, description="Training epochs (paper: 240).")
    batch_size: int | None = Field(None, ge=1, description="Images per step (paper: 64).")
    lr: float | None = Field(None, gt=0, description="Initial SGD learning rate.")
    lr_decay_epochs: list[int] | None = Field(
        None, description="Epochs after which the lr is multiplied by lr_decay_rate."
    )
    lr_decay_rate: float | None = Field(None, gt=0, le=1, description="Multi-step decay factor.")
    momentum: float | None = Field(None, ge=0, lt=1, description="SGD momentum.")
    weight_decay: float | None = Field(None, ge=0, description="SGD weight decay.")
    temperature: float | None = Field(None, gt=0, description="Distillation temperature T.")
    ce_weight: float | None = Field(None, ge=0, description="Weight of the cross-entropy term.")
    kd_weight: float | None = Field(None, ge=0, description="Weight of the distillation term.")
    warmup_epochs: int | None = Field(
        None, ge=0, description="Epochs over which the distillation weight ramps up linearly."
    )
    dkd_alpha: float | None = Field(None, ge=0, description="DKD target-class (TCKD) weight.")
    dkd_beta: float | None = Field(None, ge=0, description="DKD non-target (NCKD) weight.")
    nkd_gamma: float | None = Field(None, ge=0, description="NKD non-target term weight.")
    nkd_mode: NKDMode | None = Field(
        None, description="'paper': target removed from NKD's non-target term; 'code': kept."
    )
    device: str | None = Field(None, description="'auto' (CUDA if present), 'cpu', 'cuda' or 'cuda:N'.")
    precision: Precision | None = Field(None, description="'bf16' autocast on CUDA, else 'fp32'.")
    channels_last: bool | None = Field(None, description="channels_last memory format on CUDA.")

    @field_validator("lr_decay_epochs")
    @classmethod
    def _sorted_positive(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (any(e < 1 for e in value) or value != sorted(set(value))):
            raise ValueError("must be strictly increasing positive epochs, e.g. [150, 180, 210]")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str | None) -> str | None:
        if value is None:
            return value
        ok = value in ("auto", "cpu", "cuda") or (
            value.startswith("cuda:") and value.removeprefix("cuda:").isdigit()
        )
        if not ok:
            raise ValueError("must be one of 'auto', 'cpu', 'cuda', 'cuda:N'")
        return value


def method_defaults(method: str, student: str | None = None, teacher: str | None = None) -> dict[str, Any]:
    """Every hyper-parameter's default for a method (CIFAR-100 recipe of the SDD paper and code).

    The learning rate drops to 0.01 for ShuffleNet/MobileNet students and DKD's beta / NKD's gamma
    follow the paper's per-pair table when the pair is one of the paper's.
    """
    pair_beta = _PAIR_DKD_BETA.get((teacher or "", student or ""), 8.0)
    values: dict[str, Any] = {
        "epochs": 240,
        "batch_size": 64,
        "lr": 0.01 if student in _LOW_LR_STUDENTS else 0.05,
        "lr_decay_epochs": [150, 180, 210],
        "lr_decay_rate": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "temperature": 4.0,
        "ce_weight": 1.0,
        "kd_weight": 1.0,
        "warmup_epochs": 0,
        "dkd_alpha": 1.0,
        "dkd_beta": pair_beta,
        "nkd_gamma": pair_beta,
        "nkd_mode": "paper",
        "device": "auto",
        "precision": "fp32",
        "channels_last": False,
    }
    base = base_loss_of(method)
    if base is None:
        values["kd_weight"] = 0.0
    elif base == "kd":
        values.update(ce_weight=0.1, kd_weight=0.9)
    else:  # dkd, nkd
        values.update(warmup_epochs=20)
    return values


class TeacherCheckpoint(BaseModel):
    """A trained teacher: its architecture and a weights file (safetensors; .pt/.pth weights-only)."""

    model_config = ConfigDict(extra="forbid")

    arch: str = Field(description="Architecture name from the model zoo.")
    checkpoint: str = Field(description="Path of the weights file.")

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str) -> str:
        return _check_arch(value)


def _check_arch(value: str) -> str:
    known = list_models()
    if value not in known:
        raise ValueError(f"unknown architecture {value!r}; allowed: {', '.join(known)}")
    return value


class DistillationSettings(BaseModel):
    """What every job states, whatever form its teacher reference takes (file here, id over HTTP)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="'digits', 'cifar10', 'cifar100' or 'imagefolder:<path>'.")
    student: str = Field(description="Student architecture from the model zoo.")
    method: Method = Field(description="Training method; sd-* are the scale decoupled variants.")
    scales: list[int] = Field(
        default_factory=lambda: [1, 2, 4],
        description="SDD pooling scales: each s splits the final feature map into an s x s grid.",
    )
    beta: float = Field(2.0, gt=0, description="Weight of complementary regions in SDD (paper: 2).")
    seed: int = Field(0, ge=0, description="Seed of every random number generator.")
    image_size: int | None = Field(
        None, ge=8, description="Train/eval image size; default follows the dataset."
    )
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)

    @field_validator("student")
    @classmethod
    def _known_student(cls, value: str) -> str:
        return _check_arch(value)

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if not is_known_dataset(value):
            raise ValueError(f"unknown dataset {value!r}; allowed: {', '.join(list_datasets())}, imagefolder:<path>")
        return value

    @field_validator("scales")
    @classmethod
    def _valid_scales(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("must name at least one scale, e.g. [1, 2, 4]")
        if any(s < 1 for s in value):
            raise ValueError("every scale must be an integer >= 1")
        if len(set(value)) != len(value):
            raise ValueError("scales must not repeat")
        return value

    @model_validator(mode="after")
    def _global_region_first(self) -> "DistillationSettings":
        if self.method in SD_METHODS and self.scales[0] != 1:
            raise ValueError(
                "scales: SD methods weigh regions against the global logit, so the first scale must be 1"
            )
        return self


def resolve_hyperparameters(
    method: str, student: str, teacher_arch: str | None, given: Hyperparameters
) -> Hyperparameters:
    """``given`` with every value it leaves out taken from ``method_defaults``."""
    merged = method_defaults(method, student, teacher_arch) | given.model_dump(exclude_none=True)
    return Hyperparameters(**merged)


class JobSpec(DistillationSettings):
    """A complete, trainable job: the teacher is a weights file on this machine."""

    teacher: TeacherCheckpoint | None = Field(None, description="Required by every method but 'ce'.")

    @model_validator(mode="after")
    def _teacher_and_defaults(self) -> "JobSpec":
        check_teacher_presence(self.method, self.teacher is not None)
        teacher_arch = self.teacher.arch if self.teacher else None
        self.hyperparameters = resolve_hyperparameters(self.method, self.student, teacher_arch, self.hyperparameters)
        return self

    @property
    def is_sd(self) -> bool:
        return self.method in SD_METHODS


def check_teacher_presence(method: str, has_teacher: bool) -> None:
    """Refuse a distillation method without a teacher, and 'ce' with one."""
    if method == "ce" and has_teacher:
        raise ValueError("teacher: method 'ce' trains without a teacher; leave teacher empty")
    if method != "ce" and not has_teacher:
        raise ValueError(f"teacher: method {method!r} distils from a teacher; name one")
