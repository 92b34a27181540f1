"""One distillation step's loss: ``ce_weight * CE + warmup(epoch) * kd_weight * L``.

``L`` is the global KD/DKD/NKD loss, or its scale decoupled form on the (B, K, N) multi-scale
logits for ``sd-*`` methods. The teacher's outputs are computed separately from the student's
loss (``teacher_targets`` then ``student_loss``) so that one teacher forward could later feed
several students trained in lockstep.
"""

from __future__ import annotations

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
            scales=tuple(spec.scales),
            beta=spec.beta,
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
    if teacher is None or config.base is None:
        return None
    return teacher.multiscale(images, config.scales) if config.scale_decoupled else teacher(images)


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
    for SD methods: the share of complementary regions in this batch, a 0-d tensor).

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
    out: dict[str, torch.Tensor] = {"ce": ce.detach(), "logits": logits.detach()}
    if teacher_logits is None or config.base is None:
        kd = torch.zeros((), device=ce.device)
        loss = config.ce_weight * ce
    else:
        if local is not None:
            kd = scale_decoupled_loss(
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
            kd = base_loss_rows(
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
        loss = config.ce_weight * ce + config.warmup(epoch) * config.kd_weight * kd
    out["kd"] = kd.detach()
    out["loss"] = loss
    return out
