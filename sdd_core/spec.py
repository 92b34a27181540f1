"""The job specification: one schema shared by the CLI, the trainer and the REST API.

A spec says *what* to train: dataset, student, teacher, method, SDD scales and beta, seed and the
hyper-parameters. Hyper-parameters left out (or ``null``) take the method's default from the SDD
paper and its code (see ``method_defaults``), so a validated ``JobSpec`` always carries every
value it will be trained with. Scales and beta shape the scale-decoupled methods only
(``SD_METHODS``): an SD spec that leaves them out trains with the paper's ``DEFAULT_SCALES`` and
``DEFAULT_BETA``; a spec of another method names neither (``check_sd_only_fields``) and carries none.

Checks here need no model or data: names, ranges and combinations. Checks that need the models
(class counts, feature-map sizes) live in ``sdd_core.trainer.compatibility``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator, model_validator

from sdd_core import models as zoo  # the zoo (torch) loads when an architecture is first checked
from sdd_core.data import flips_by_default, is_known_dataset, list_datasets
from sdd_core.errors import ModelError, SpecError, unknown_name
from sdd_core.methods import (  # noqa: F401  (re-exported: the spec's vocabulary)
    MAX_SEED,
    MAX_WEIGHT,
    METHODS,
    SD_METHODS,
    BaseLoss,
    CompileMode,
    Hyperparameters,
    Method,
    NKDMode,
    Precision,
    ResolvedHyperparameters,
    base_loss_of,
    fit_schedule_to_run,
    method_defaults,
)

DataProtocol = Literal["held_out", "literature"]
"""What a job's splits are for (``sdd_core.data.holdout``): a held-out validation part and a test
split, or the literature's one val split that both chooses and reports."""

STORED_PROTOCOL: DataProtocol = "literature"
"""The protocol of a spec stored before specs named one: those jobs chose and reported on val."""


DEFAULT_SCALES: tuple[int, ...] = (1, 2, 4)
"""The paper's pooling scales: what an SD method trains with when its spec names none."""

DEFAULT_BETA = 2.0
"""The paper's weight of complementary regions: what an SD method trains with when its spec sets none."""

SD_ONLY_FIELDS: tuple[str, ...] = ("scales", "beta")
"""The spec fields that shape the scale-decoupled methods only."""


def with_stored_protocol(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored spec (JSON) as it trained: one written before ``protocol`` existed used the literature's."""
    return {"protocol": STORED_PROTOCOL, **stored}


def sd_only_message(field: str, method: str) -> str:
    """Why ``field`` (scales or beta) has no place in a spec of ``method``, and what to do instead
    (the field's name goes before it: ``beta: shapes only the scale-decoupled methods ...``)."""
    counterpart = f"sd-{method}"
    instead = f", or choose {counterpart}" if counterpart in SD_METHODS else ""
    verb = "shape" if field == "scales" else "shapes"
    return (
        f"{verb} only the scale-decoupled methods ({', '.join(sorted(SD_METHODS))}), and method {method!r} "
        f"is not one of them; leave {field} out{instead}"
    )


def check_sd_only_fields(method: str, scales: object, beta: object) -> None:
    """Refuse ``scales`` or ``beta`` given to a method that is not scale-decoupled: a ``SpecError``
    naming the field (they would be stored with the job and never used)."""
    if method in SD_METHODS:
        return
    for field, value in zip(SD_ONLY_FIELDS, (scales, beta), strict=True):
        if value is not None:
            raise SpecError(field, sd_only_message(field, method))


class TeacherCheckpoint(BaseModel):
    """A trained teacher: its architecture and either a weights file (safetensors; .pt/.pth
    weights-only) or ``pretrained`` (the architecture's own pretrained weights, from the local
    torch hub or Hugging Face cache; see ``sdd_core.models.pretrained_weights_of``)."""

    model_config = ConfigDict(extra="forbid")

    arch: str = Field(description="Architecture name from the model zoo.")
    checkpoint: str | None = Field(
        default=None, description="Path of the weights file.", exclude_if=lambda v: v is None
    )
    pretrained: bool = Field(
        default=False,
        description="Use the architecture's pretrained weights (tv/ and timm/ models) instead of a file.",
        exclude_if=lambda v: v is False,
    )

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str) -> str:
        return check_arch(value)

    @model_validator(mode="after")
    def _one_source(self) -> TeacherCheckpoint:
        if (self.checkpoint is None) != self.pretrained:
            raise ValueError("give the teacher either a checkpoint file or pretrained: true, not both or neither")
        return self


class WarmStart(BaseModel):
    """A student that starts from a weights file of its own architecture (a warm start)."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str = Field(description="Path of a weights file saved from the student's architecture.")


StudentInit = Literal["scratch", "pretrained"] | WarmStart
"""Where the student's first weights come from: a fresh initialisation, the architecture's
pretrained weights (the head stays fresh when the class counts differ), or a file."""


def check_arch(value: str) -> str:
    """``value`` if the zoo has that architecture; else a ``ValueError`` with close names."""
    if value in zoo.list_models():
        return value
    try:
        return zoo.check_model_name(value)  # a timm/<name>
    except ModelError as error:
        known = zoo.list_models()
        message = str(error) if zoo.timm_zoo.is_timm_name(value) else unknown_name("architecture", value, known)
        raise ValueError(message) from None


class DistillationSettings(BaseModel):
    """What every job states, whatever form its teacher reference takes (file here, id over HTTP)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    dataset: str = Field(
        min_length=1, max_length=4096, description="'digits', 'cifar10', 'cifar100' or 'imagefolder:<path>'."
    )
    student: str = Field(min_length=1, max_length=200, description="Student architecture from the model zoo.")
    method: Method = Field(description="Training method; sd-* are the scale decoupled variants.")
    scales: list[StrictInt] | None = Field(  # strict: "1" and true are not scales
        default=None,
        max_length=16,
        description="SD methods only: the SDD pooling scales, each s splitting the final feature map into an "
        "s x s grid (default [1, 2, 4]). Other methods take none.",
        exclude_if=lambda value: value is None,
    )
    beta: float | None = Field(
        default=None,
        ge=0,
        le=MAX_WEIGHT,
        description="SD methods only: the weight of complementary regions in SDD (default and paper: 2; 0 keeps "
        "the consistent regions only). Other methods take none.",
        exclude_if=lambda value: value is None,
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="Seed of every random number generator.")
    image_size: int | None = Field(
        default=None, ge=8, le=8192, description="Train/eval image size; default follows the dataset."
    )
    protocol: DataProtocol = Field(
        default="held_out",
        description="held_out: a stratified part of the training split (holdout_fraction) chooses the best "
        "epoch and a sweep's configuration, and the dataset's val split is the test split, evaluated once on "
        "the exported student; literature: the val split chooses and reports, as the SDD paper's CIFAR tables.",
    )
    holdout_fraction: float = Field(
        default=0.1,
        gt=0,
        le=0.5,
        description="With protocol held_out: the part of each class of the training split held out for "
        "validation (drawn from seed, never trained on).",
    )
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)

    @field_validator("method", mode="before")
    @classmethod
    def _known_method(cls, value: object) -> object:
        if isinstance(value, str) and value not in METHODS:
            raise ValueError(unknown_name("method", value, METHODS))
        return value

    @field_validator("student")
    @classmethod
    def _known_student(cls, value: str) -> str:
        return check_arch(value)

    @field_validator("scales")
    @classmethod
    def _valid_scales(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("must name at least one scale, e.g. [1, 2, 4]")
        if any(s < 1 for s in value):
            raise ValueError("every scale must be an integer >= 1")
        if len(set(value)) != len(value):
            raise ValueError("scales must not repeat")
        if info.data.get("method") in SD_METHODS and value[0] != 1:
            raise ValueError("SD methods weigh regions against the global logit, so the first scale must be 1")
        return value

    @model_validator(mode="after")
    def _sd_defaults(self) -> DistillationSettings:
        """An SD method's scales and beta left out (or null) take the paper's: defaults, not values
        the spec states (``model_fields_set`` keeps them out)."""
        if self.method in SD_METHODS:
            left_out = {field for field in SD_ONLY_FIELDS if getattr(self, field) is None}
            self.scales = list(DEFAULT_SCALES) if self.scales is None else self.scales
            self.beta = DEFAULT_BETA if self.beta is None else self.beta
            self.__pydantic_fields_set__.difference_update(left_out)
        return self

    @field_validator("teacher", check_fields=False)  # declared by each form of the spec, after ``method``
    @classmethod
    def _teacher_presence(cls, value: object, info: ValidationInfo) -> object:
        method = info.data.get("method")
        if method is not None:
            check_teacher_presence(method, value is not None)
        return value


def resolve_hyperparameters(
    method: str, student: str, teacher_arch: str | None, given: Hyperparameters
) -> Hyperparameters:
    """``given`` with every value it leaves out taken from ``method_defaults``; for a run shorter
    than the recipe, the default milestones and warm-up scaled to it (``fit_schedule_to_run``)."""
    defaults = method_defaults(method, student, teacher_arch)
    if given.epochs is not None:
        defaults = fit_schedule_to_run(defaults, given.epochs)
    merged = defaults | given.model_dump(exclude_none=True)
    return Hyperparameters(**merged)


class JobSpec(DistillationSettings):
    """A complete, trainable job: the teacher is a weights file on this machine."""

    # How many ranks train the job (sdd_core.trainer.distributed), in the library's spec only.
    # Left out of the JSON at their defaults, so single-device specs (and their checkpoints'
    # fingerprints) read as they always have.
    devices: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Devices (GPUs, or CPU processes) of one node training this job together with "
        "torch.distributed; batch_size stays the global batch and must be a multiple of devices.",
        exclude_if=lambda value: value == 1,
    )
    sync_batchnorm: bool = Field(
        default=False,
        description="With devices > 1: batch norms use the statistics of the global batch (SyncBatchNorm).",
        exclude_if=lambda value: value is False,
    )
    protocol: DataProtocol = Field(
        default=STORED_PROTOCOL,
        description="held_out: a stratified part of the training split (holdout_fraction) chooses, the val "
        "split is the test split; literature (the library's default, as spec files and checkpoints written "
        "before protocols existed): the val split chooses and reports. The service's jobs default to held_out.",
    )
    teacher: TeacherCheckpoint | None = Field(
        default=None, validate_default=True, description="Required by every method but 'ce'."
    )
    init: StudentInit = Field(
        default="scratch",
        description="The student's first weights: 'scratch', 'pretrained' or a warm start from a file.",
        exclude_if=lambda value: value == "scratch",
    )

    @field_validator("scales", "beta")
    @classmethod
    def _sd_only(cls, value: object, info: ValidationInfo) -> object:
        method = info.data.get("method")
        if value is not None and method is not None and method not in SD_METHODS:
            assert info.field_name is not None
            raise ValueError(sd_only_message(info.field_name, method))
        return value

    @field_validator("dataset")
    @classmethod
    def _library_dataset(cls, value: str) -> str:
        if not is_known_dataset(value):
            raise ValueError(f"unknown dataset {value!r}; allowed: {', '.join(list_datasets())}, imagefolder:<path>")
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> JobSpec:
        teacher_arch = self.teacher.arch if self.teacher else None
        resolved = resolve_hyperparameters(self.method, self.student, teacher_arch, self.hyperparameters)
        if resolved.flip is None:  # the one default that depends on the dataset (no flip for digits)
            resolved = resolved.model_copy(update={"flip": flips_by_default(self.dataset)})
        self.hyperparameters = resolved
        batch = resolved.batch_size or 0
        if self.devices > 1 and batch % self.devices:
            raise ValueError(
                f"hyperparameters.batch_size {batch} (the global batch) does not split over devices={self.devices}; "
                f"choose a batch size that is a multiple of {self.devices}"
            )
        return self

    @property
    def is_sd(self) -> bool:
        return self.method in SD_METHODS

    @property
    def resolved_hyperparameters(self) -> ResolvedHyperparameters:
        """The hyper-parameters this job trains with, every one present (see ``method_defaults``)."""
        return ResolvedHyperparameters.of(self.hyperparameters)


def check_teacher_presence(method: str, has_teacher: bool) -> None:
    """Refuse a distillation method without a teacher, and 'ce' with one (a ``ValueError`` on ``teacher``)."""
    if method == "ce" and has_teacher:
        raise ValueError("method 'ce' trains without a teacher; leave teacher empty")
    if method != "ce" and not has_teacher:
        raise ValueError(f"method {method!r} distils from a teacher; name one")
