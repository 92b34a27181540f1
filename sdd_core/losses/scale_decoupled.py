"""The scale decoupled loss of SDD (Wei, Luo, Luo, "Scale Decoupled Distillation", CVPR 2024, Eq. 5-8).

Given multi-scale logits (B, K, N) of student and teacher (``sdd_core.decouple``), a base loss
(KD, DKD or NKD) is computed for every (sample, region) row. A region whose teacher prediction
agrees in correctness with the teacher's global prediction (region 0) is *consistent* and weighs
1; otherwise it is *complementary* and weighs ``beta`` (> 1 stresses ambiguous samples), i.e. the
paper's ``L_SDD = D_con + beta * D_com``:

    L_SDD = sum_{b,n} w[b,n] * l[b,n] / (B * N),   w[b,n] = beta if c[b,n] != c[b,0] else 1,

with ``c[b,n] = (argmax_k t[b,k,n] == y[b])``. The sum is normalised by B * N, as the authors' code
does. With N = 1 this is the base loss averaged over the batch; with beta = 1 it is the plain mean
of the per-region losses.

Paper vs authors' code: the authors hard-code beta = 2; here it is a parameter (default 2.0), and
beta = 0 is allowed: the complementary regions then drop out and only the consistent ones teach
(an ablation the paper did not run).
"""

from __future__ import annotations

from typing import Literal

import torch

from sdd_core.losses.dkd import dkd_rows
from sdd_core.losses.kd import kd_rows
from sdd_core.losses.nkd import nkd_rows
from sdd_core.methods import NKDMode

BaseLoss = Literal["kd", "dkd", "nkd"]
BASE_LOSSES: tuple[BaseLoss, ...] = ("kd", "dkd", "nkd")


def complementary_mask(teacher_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """True where a region's teacher correctness differs from the global one (region 0).

    Args:
        teacher_logits: teacher multi-scale logits (B, K, N), region 0 global.
        labels: target classes (B,).
    Returns:
        (B, N) bool; column 0 is always False.
    """
    correct = teacher_logits.argmax(dim=1) == labels.unsqueeze(1)  # (B, N)
    return correct != correct[:, :1]  # (B, N)


def base_loss_rows(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float,
    base: BaseLoss,
    dkd_alpha: float,
    dkd_beta: float,
    nkd_gamma: float,
    nkd_mode: NKDMode,
) -> torch.Tensor:
    """Per-row ``base`` loss (KD, DKD or NKD) on (R, K) logits and (R,) labels -> (R,).

    Takes every base loss's weights so that callers need not know which one ``base`` uses.
    """
    if base == "kd":
        return kd_rows(student_logits, teacher_logits, temperature=temperature)
    if base == "dkd":
        return dkd_rows(
            student_logits, teacher_logits, labels, temperature=temperature, dkd_alpha=dkd_alpha, dkd_beta=dkd_beta
        )
    if base == "nkd":
        return nkd_rows(
            student_logits, teacher_logits, labels, temperature=temperature, nkd_gamma=nkd_gamma, nkd_mode=nkd_mode
        )
    raise ValueError(f"base must be one of {BASE_LOSSES}, got {base!r}")


def scale_decoupled_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 4.0,
    base: BaseLoss = "kd",
    beta: float = 2.0,
    dkd_alpha: float = 1.0,
    dkd_beta: float = 8.0,
    nkd_gamma: float = 8.0,
    nkd_mode: NKDMode = "paper",
) -> torch.Tensor:
    """``L_SDD = sum_{b,n} w[b,n] * l[b,n] / (B * N)``, w = beta on complementary regions, else 1.

    Args:
        student_logits, teacher_logits: multi-scale logits (B, K, N) with region 0 the global logit.
        labels: target classes (B,).
        temperature: T of the base loss.
        base: the per-row loss l: ``"kd"``, ``"dkd"`` or ``"nkd"``.
        beta: the weight of complementary regions (paper: 2).
        dkd_alpha, dkd_beta, nkd_gamma, nkd_mode: the base loss's own weights (see its module).
    Returns:
        A scalar tensor. Never replaced by zero when non-finite: the caller decides what to do.
    """
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 3:
        raise ValueError(
            "student and teacher must both be (B, K, N), got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    batch, classes, regions = student_logits.shape
    rows_s = student_logits.transpose(1, 2).reshape(batch * regions, classes)  # (B, N, K) -> (B*N, K), sample-major
    rows_t = teacher_logits.transpose(1, 2).reshape(batch * regions, classes)  # (B, N, K) -> (B*N, K)
    rows_y = labels.repeat_interleave(regions)  # (B*N,)
    per_row = base_loss_rows(
        rows_s,
        rows_t,
        rows_y,
        temperature=temperature,
        base=base,
        dkd_alpha=dkd_alpha,
        dkd_beta=dkd_beta,
        nkd_gamma=nkd_gamma,
        nkd_mode=nkd_mode,
    ).view(batch, regions)  # (B*N,) -> (B, N)
    weights = torch.where(complementary_mask(teacher_logits, labels), beta, 1.0).to(per_row.dtype)  # (B, N)
    return (weights * per_row).sum() / (batch * regions)
