"""One distillation step's loss: ``ce_weight * CE + warmup(epoch) * kd_weight * L``.

``L`` is the global KD/DKD/NKD loss, or its scale decoupled form on the (B, K, N) multi-scale
logits for ``sd-*`` methods. The teacher's outputs are computed separately from the student's
loss (``TeacherTargets`` then ``student_loss``), so that one teacher forward feeds every student
trained in lockstep (``sdd_core.trainer.loop.train_group``). ``loss_parts`` is the loss before its epoch-dependent
weighting (what a compiled step compiles), ``weighted_loss`` the weighting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sdd_core.decouple import multiscale_logits
from sdd_core.losses import base_loss_rows, complementary_mask, scale_decoupled_loss
from sdd_core.models import PooledLinearClassifier
from sdd_core.spec import BaseLoss, JobSpec, NKDMode, base_loss_of
from sdd_core.trainer.teacher import FrozenTeacher


@dataclass(frozen=True)
class LossConfig:
    """The plain numbers a step needs, taken from a validated ``JobSpec``."""

    base: BaseLoss | None  # kd | dkd | nkd | None (ce)
    scale_decoupled: bool
    scales: tuple[int, ...]
    beta: float
    temperature: float
    ce_weight: float
    kd_weight: float
    warmup_epochs: int
    dkd_alpha: float
    dkd_beta: float
    nkd_gamma: float
    nkd_mode: NKDMode

    @classmethod
    def from_spec(cls, spec: JobSpec) -> LossConfig:
        hp = spec.resolved_hyperparameters
        return cls(
            base=base_loss_of(spec.method),
            scale_decoupled=spec.is_sd,
            scales=tuple(spec.scales or ()),  # SD methods only: none for the others
            beta=spec.beta if spec.beta is not None else 1.0,  # unused but by SD methods
            temperature=hp.temperature,
            ce_weight=hp.ce_weight,
            kd_weight=hp.kd_weight,
            warmup_epochs=hp.warmup_epochs,
            dkd_alpha=hp.dkd_alpha,
            dkd_beta=hp.dkd_beta,
            nkd_gamma=hp.nkd_gamma,
            nkd_mode=hp.nkd_mode,
        )

    def warmup(self, epoch: int) -> float:
        """min(epoch / warmup_epochs, 1), epochs counted from 1."""
        return 1.0 if self.warmup_epochs <= 0 else min(epoch / self.warmup_epochs, 1.0)


def teacher_targets(teacher: FrozenTeacher | None, images: torch.Tensor, config: LossConfig) -> torch.Tensor | None:
    """Teacher logits the loss compares against: (B, K, N) for SD methods, (B, K) otherwise."""
    return TeacherTargets(teacher).get(images, config)


class TeacherTargets:
    """The teacher's side of a batch, for every student that learns from it: the feature map once
    per batch, then the logits each student's loss needs, once per kind (global, or the regions of
    one list of scales). A student with scales [1, 2] gets its own region logits computed from the
    shared map, not a slice of another student's [1, 2, 4]: the same function on the same map as
    when it trains alone, so a student's numbers do not depend on the others in its group.

    ``compiled`` runs the teacher's forward through ``torch.compile`` (one graph for full batches).
    """

    def __init__(self, teacher: FrozenTeacher | None, *, compiled: bool = False, batch_size: int = 0) -> None:
        self.teacher = teacher
        self.batch_size = batch_size
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        if teacher is not None and compiled:
            self._compiled = torch.compile(teacher.features, dynamic=False)
        self._images: torch.Tensor | None = None
        self._features: torch.Tensor | None = None
        self._logits: dict[tuple[int, ...] | None, torch.Tensor] = {}

    def get(self, images: torch.Tensor, config: LossConfig) -> torch.Tensor | None:
        """(B, K, N) for an SD student, (B, K) for a KD/DKD/NKD one, None for ``ce``."""
        if self.teacher is None or config.base is None:
            return None
        if images is not self._images:  # a new batch: forget the last one's
            self._images, self._features, self._logits = images, None, {}
        kind = config.scales if config.scale_decoupled else None
        if kind not in self._logits:
            if kind is None and not self.teacher.pools_features:
                self._logits[kind] = self.teacher(images)  # its own forward (no SD student can share it)
            else:
                if self._features is None:
                    self._features = self._forward(images)
                features = self._features
                self._logits[kind] = (
                    self.teacher.region_logits(features, kind) if kind else self.teacher.global_logits(features)
                )
        return self._logits[kind]

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        assert self.teacher is not None
        if self._compiled is not None and images.shape[0] == self.batch_size:
            try:
                return self._compiled(images)
            except torch._dynamo.exc.TorchDynamoException:  # no compiler here: the eager forward
                self._compiled = None
        return self.teacher.features(images)


def loss_parts(
    student: PooledLinearClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    *,
    config: LossConfig,
) -> dict[str, torch.Tensor]:
    """Forward the student and return its unweighted loss parts ``{"ce", "kd", "logits"}`` (+
    ``complementary`` for SD methods: the share of complementary regions in this batch, 0-d).

    ``ce`` and ``kd`` keep their graphs (``kd`` is a zero without a teacher); ``logits`` (B, K) is
    detached. No epoch-dependent number enters here, so a compiled ``loss_parts`` serves every
    epoch; ``weighted_loss`` applies the warm-up afterwards.

    For SD methods the student runs once, through ``multiscale_logits``: its global logit is
    region 0, computed as its own forward computes it (head dropout included in train mode).
    """
    if config.scale_decoupled:
        assert teacher_logits is not None, "SD methods distil from a teacher"
        local = multiscale_logits(student, images, config.scales)  # (B, K, N)
        logits = local[:, :, 0]  # (B, K): region 0 is the global logit
    else:
        local = None
        logits = student(images)  # (B, K)
    ce = F.cross_entropy(logits, labels)
    out: dict[str, torch.Tensor] = {"ce": ce, "logits": logits.detach()}
    if teacher_logits is None or config.base is None:
        out["kd"] = torch.zeros((), device=ce.device)
        return out
    if local is not None:
        out["kd"] = scale_decoupled_loss(
            local.float(),
            teacher_logits.float(),
            labels,
            temperature=config.temperature,
            base=config.base,
            beta=config.beta,
            dkd_alpha=config.dkd_alpha,
            dkd_beta=config.dkd_beta,
            nkd_gamma=config.nkd_gamma,
            nkd_mode=config.nkd_mode,
        )
        out["complementary"] = complementary_mask(teacher_logits, labels).float().mean()
    else:
        out["kd"] = base_loss_rows(
            logits.float(),
            teacher_logits.float(),
            labels,
            temperature=config.temperature,
            base=config.base,
            dkd_alpha=config.dkd_alpha,
            dkd_beta=config.dkd_beta,
            nkd_gamma=config.nkd_gamma,
            nkd_mode=config.nkd_mode,
        ).mean()
    return out


def weighted_loss(ce: torch.Tensor, kd: torch.Tensor, *, config: LossConfig, epoch: int) -> torch.Tensor:
    """``ce_weight * CE + warmup(epoch) * kd_weight * L`` (CE alone for ``ce``)."""
    if config.base is None:
        return config.ce_weight * ce
    return config.ce_weight * ce + config.warmup(epoch) * config.kd_weight * kd


def student_loss(
    student: PooledLinearClassifier,
    images: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    *,
    config: LossConfig,
    epoch: int,
) -> dict[str, torch.Tensor]:
    """Forward the student and return ``{"loss", "ce", "kd", "logits"}`` (+ ``complementary``
    for SD methods, see ``loss_parts``); only ``loss`` keeps its graph."""
    parts = loss_parts(student, images, labels, teacher_logits, config=config)
    if teacher_logits is None:
        loss = config.ce_weight * parts["ce"]
    else:
        loss = weighted_loss(parts["ce"], parts["kd"], config=config, epoch=epoch)
    out = {name: value.detach() for name, value in parts.items()}
    out["loss"] = loss
    return out


def step_statistics(parts: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """(4,) float32 on the step's device: ce, kd, complementary share (0 without), top-1 correct."""
    correct = (parts["logits"].argmax(dim=1) == labels).sum()
    complementary = parts.get("complementary")
    if complementary is None:
        complementary = torch.zeros((), device=labels.device)
    return torch.stack(
        [parts["ce"].detach().float(), parts["kd"].detach().float(), complementary.float(), correct.float()]
    )
