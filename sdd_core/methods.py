"""Training methods and their hyper-parameters, with the SDD paper's defaults.

Kept free of torch and of the model/data registries so that the command line can build its
flags (and the job service its schemas) without loading the training stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

Method = Literal["ce", "kd", "dkd", "nkd", "sd-kd", "sd-dkd", "sd-nkd"]
METHODS: tuple[str, ...] = get_args(Method)
SD_METHODS = frozenset({"sd-kd", "sd-dkd", "sd-nkd"})
BaseLoss = Literal["kd", "dkd", "nkd"]
NKDMode = Literal["paper", "code"]
Precision = Literal["auto", "fp32", "bf16"]
CompileMode = Literal["auto", "on", "off"]
ExportChoice = Literal["best", "last"]

# Bounds that keep every value within what the trainer and the generators accept (the service's
# own, tighter limits are SDD_MAX_EPOCHS and friends).
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20
MAX_DECAY_STEPS = 64
MAX_CROP_PADDING = 1024
MAX_LOADER_WORKERS = 256
MAX_SEED = 2**63 - 1  # torch.manual_seed takes 64 bits; numpy's seed is reduced modulo 2**32
MAX_LR = 10.0  # far above any recipe (ImageNet's 0.2); 1e308 overflowed the first step
MAX_WEIGHT = 1000.0  # loss weights (CE, KD, DKD's alpha and beta, NKD's gamma) and SD's beta
MAX_TEMPERATURE = 100.0
MAX_CUDA_INDEX = 63  # a device index past what any node has is a typo, refused before a worker sees it
_DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]{1,2})?")

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


_BASE_LOSS_OF: dict[str, BaseLoss | None] = {
    "ce": None,
    "kd": "kd",
    "dkd": "dkd",
    "nkd": "nkd",
    "sd-kd": "kd",
    "sd-dkd": "dkd",
    "sd-nkd": "nkd",
}


def base_loss_of(method: str) -> BaseLoss | None:
    """The per-row distillation loss of a method: ``kd``, ``dkd``, ``nkd``, or None for ``ce``."""
    if method not in _BASE_LOSS_OF:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    return _BASE_LOSS_OF[method]


class Hyperparameters(BaseModel):
    """Training hyper-parameters. ``None`` (or absent) means the method's default."""

    # allow_inf_nan=False: NaN and infinities are refused in every float field, as data errors.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    epochs: int | None = Field(default=None, ge=1, le=MAX_EPOCHS, description="Training epochs (paper: 240).")
    batch_size: int | None = Field(default=None, ge=1, le=MAX_BATCH, description="Images per step (paper: 64).")
    lr: float | None = Field(default=None, gt=0, le=MAX_LR, description="Initial SGD learning rate.")
    lr_decay_epochs: list[Annotated[int, Field(ge=1, le=MAX_EPOCHS)]] | None = Field(
        default=None,
        max_length=MAX_DECAY_STEPS,
        description="Epochs after which the lr is multiplied by lr_decay_rate.",
    )
    lr_decay_rate: float | None = Field(default=None, gt=0, le=1, description="Multi-step decay factor.")
    momentum: float | None = Field(default=None, ge=0, lt=1, description="SGD momentum.")
    weight_decay: float | None = Field(default=None, ge=0, le=1, description="SGD weight decay.")
    temperature: float | None = Field(default=None, gt=0, le=MAX_TEMPERATURE, description="Distillation temperature T.")
    ce_weight: float | None = Field(default=None, ge=0, le=MAX_WEIGHT, description="Weight of the cross-entropy term.")
    kd_weight: float | None = Field(default=None, ge=0, le=MAX_WEIGHT, description="Weight of the distillation term.")
    warmup_epochs: int | None = Field(
        default=None, ge=0, le=MAX_EPOCHS, description="Epochs over which the distillation weight ramps up linearly."
    )
    dkd_alpha: float | None = Field(default=None, ge=0, le=MAX_WEIGHT, description="DKD target-class (TCKD) weight.")
    dkd_beta: float | None = Field(default=None, ge=0, le=MAX_WEIGHT, description="DKD non-target (NCKD) weight.")
    nkd_gamma: float | None = Field(default=None, ge=0, le=MAX_WEIGHT, description="NKD non-target term weight.")
    nkd_mode: NKDMode | None = Field(
        default=None, description="'paper': target removed from NKD's non-target term; 'code': kept."
    )
    device: str | None = Field(default=None, description="'auto' (CUDA if present), 'cpu', 'cuda' or 'cuda:N'.")
    precision: Precision | None = Field(
        default=None, description="'auto' (bf16 autocast on CUDA where supported, else fp32), 'fp32' or 'bf16' (CUDA)."
    )
    channels_last: bool | None = Field(default=None, description="channels_last memory format on CUDA (default on).")
    compile: CompileMode | None = Field(
        default=None,
        description="torch.compile of the teacher forward and the student step: 'auto' (on for long jobs), 'on', 'off'.",
    )
    flip: bool | None = Field(
        default=None,
        description="Random horizontal flip in training (default on; off for digits). "
        "Turn it off for text, digits or images whose left and right differ (laterality).",
    )
    crop_padding: int | None = Field(
        default=None,
        ge=0,
        le=MAX_CROP_PADDING,
        description="Zero padding of the small-image random crop (default size / 8: 4 at 32 px; 0: no crop).",
    )
    crop_scale_min: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Smallest area share of the large-image random resized crop (paper: 0.08).",
    )
    loader_workers: int | None = Field(
        default=None,
        ge=0,
        le=MAX_LOADER_WORKERS,
        description="Data loader processes for large images (default: the worker's setting, else from its CPUs).",
    )
    early_stopping_patience: int | None = Field(
        default=None,
        description="Stop when validation top-1 has not improved for this many consecutive epochs "
        "(at least 1; unset: train every epoch).",
    )
    export: ExportChoice | None = Field(
        default=None,
        description="Which weights to export: 'last' (the last epoch's, default) or 'best' "
        "(the epoch with the highest validation top-1, the earlier one on a tie).",
    )

    @field_validator("lr_decay_epochs")
    @classmethod
    def _sorted_positive(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (any(e < 1 or e > MAX_EPOCHS for e in value) or value != sorted(set(value))):
            raise ValueError(f"must be strictly increasing epochs from 1 to {MAX_EPOCHS}, e.g. [150, 180, 210]")
        return value

    @field_validator("early_stopping_patience")
    @classmethod
    def _positive_patience(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_EPOCHS:
            raise ValueError(
                f"must be from 1 to {MAX_EPOCHS} epochs without a top-1 gain; leave it unset to train every epoch"
            )
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not _DEVICE.fullmatch(value):  # ASCII digits only: str.isdigit() admits "cuda:١"
            raise ValueError(f"must be one of 'auto', 'cpu', 'cuda', 'cuda:N' (N from 0 to {MAX_CUDA_INDEX})")
        if value.startswith("cuda:") and int(value[5:]) > MAX_CUDA_INDEX:
            raise ValueError(f"{value!r}: no node has that GPU; use 'cuda' or 'cuda:N' with N up to {MAX_CUDA_INDEX}")
        return value


# Hyper-parameters that change only what a step does with its batch (optimiser, schedule, loss
# weights) or when a student leaves and which of its epochs it exports (early stopping, export),
# never which batch it is nor the machine it runs on. Every other one is a lockstep field: students
# of one lockstep group agree on it (sdd_core.lockstep), so list a new one here only if it is
# step-only.
STEP_ONLY_HYPERPARAMETERS = frozenset(
    {
        "lr", "lr_decay_epochs", "lr_decay_rate", "momentum", "weight_decay", "temperature",
        "ce_weight", "kd_weight", "warmup_epochs", "dkd_alpha", "dkd_beta", "nkd_gamma", "nkd_mode",
        "early_stopping_patience", "export",
    }
)  # fmt: skip


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
        "precision": "auto",
        "channels_last": True,
        "compile": "auto",
        "crop_scale_min": 0.08,
        "export": "last",
    }
    base = base_loss_of(method)
    if base is None:
        values["kd_weight"] = 0.0
    elif base == "kd":
        values.update(ce_weight=0.1, kd_weight=0.9)
    else:  # dkd, nkd
        values.update(warmup_epochs=20)
    return values


def fit_schedule_to_run(defaults: dict[str, Any], epochs: int) -> dict[str, Any]:
    """``defaults`` with the schedule's epochs scaled to a run of ``epochs`` (shorter than the
    recipe's): the decay milestones (150/180/210 of 240) at the same fractions of the run, each at
    least epoch 1 and before its end where the run has room, and the warm-up likewise. Without
    this a 20-epoch run would never decay its learning rate and a 10-epoch DKD run would never
    finish its warm-up."""
    total = int(defaults["epochs"])
    if epochs >= total:
        return defaults
    milestones: list[int] = []
    for milestone in defaults["lr_decay_epochs"]:
        scaled = max(1, min(epochs - 1, round(milestone * epochs / total)))
        if not milestones or scaled > milestones[-1]:
            milestones.append(scaled)
    warmup = round(int(defaults["warmup_epochs"]) * epochs / total)
    return defaults | {"epochs": epochs, "lr_decay_epochs": milestones, "warmup_epochs": warmup}


_UNSET_MEANS_DEFAULT = frozenset({"crop_padding", "loader_workers", "early_stopping_patience"})
"""Hyper-parameters that stay None in a resolved spec: those whose default depends on the data or
the machine, not the method, where the trainer decides (``crop_padding``: size / 8;
``loader_workers``: the setting, else the CPUs), and ``early_stopping_patience``, where None is
off. ``flip``'s default depends on the dataset and is filled in by ``JobSpec``, which knows it."""


@dataclass(frozen=True)
class ResolvedHyperparameters:
    """``Hyperparameters`` once every default is filled in: each value present, typed as trained.

    A validated ``JobSpec`` always carries resolved hyper-parameters; this is the view of them
    the trainer reads (``JobSpec.resolved_hyperparameters``), so it never meets a ``None``.
    """

    epochs: int
    batch_size: int
    lr: float
    lr_decay_epochs: tuple[int, ...]
    lr_decay_rate: float
    momentum: float
    weight_decay: float
    temperature: float
    ce_weight: float
    kd_weight: float
    warmup_epochs: int
    dkd_alpha: float
    dkd_beta: float
    nkd_gamma: float
    nkd_mode: NKDMode
    device: str
    precision: Precision
    channels_last: bool
    compile: CompileMode
    flip: bool
    crop_padding: int | None  # None: the dataset's image size / 8
    crop_scale_min: float
    loader_workers: int | None  # None: the caller's setting, else from the machine's CPUs
    early_stopping_patience: int | None  # None: no early stopping
    export: ExportChoice

    @classmethod
    def of(cls, given: Hyperparameters) -> ResolvedHyperparameters:
        """Raise ValueError naming the hyper-parameters ``given`` leaves unset."""
        values = given.model_dump()
        missing = [f.name for f in fields(cls) if values.get(f.name) is None and f.name not in _UNSET_MEANS_DEFAULT]
        if missing:
            raise ValueError(f"hyper-parameters {', '.join(missing)} are not resolved; build a JobSpec first")
        return cls(**{**values, "lr_decay_epochs": tuple(values["lr_decay_epochs"])})
