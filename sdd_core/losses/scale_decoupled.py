"""The scale decoupled loss of SDD (Wei, Luo, Luo, "Scale Decoupled Distillation", CVPR 2024, Eq. 5-8).

Given multi-scale logits (B, K, N) of student and teacher (``sdd_core.decouple``), a base loss
(KD, DKD or NKD) is computed for every (sample, region) row. A region whose teacher prediction
agrees in correctness with the teacher's global prediction (region 0) is *consistent* and weighs
1; otherwise it is *complementary* and weighs ``beta`` (> 1 stresses ambiguous samples). The sum is
normalised by B * N, as the authors' code does. With N = 1 this is the base loss averaged over the
batch; with beta = 1 it is the plain mean of the per-region losses.

Paper vs authors' code: the authors hard-code beta = 2; here it is a parameter (default 2.0).
"""
from __future__ import annotations

from typing import Literal

import torch

from sdd_core.losses.dkd import dkd_rows
from sdd_core.losses.kd import kd_rows
from sdd_core.losses.nkd import nkd_rows

BaseLoss = Literal["kd", "dkd", "nkd"]
BASE_LOSSES = ("kd", "dkd", "nkd")


def complementary_mask(teacher: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """True where a region's teacher correctness differs from the global one (region 0).

    Args:
        teacher: teacher multi-scale logits (B, K, N), region 0 global.
        target: labels (B,).
    Returns:
        (B, N) bool; column 0 is always False.
    """
    correct = teacher.argmax(dim=1) == target.unsqueeze(1)  # (B, N)
    return correct != correct[:, :1]


def base_loss_rows(
    base: BaseLoss,
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    *,
    temperature: float,
    dkd_alpha: float,
    dkd_beta: float,
    nkd_gamma: float,
    nkd_mode: Literal["paper", "code"],
) -> torch.Tensor:
    """Per-row base loss on (R, K) logits and (R,) targets -> (R,)."""
    if base == "kd":
        return kd_rows(student, teacher, temperature)
    if base == "dkd":
        return dkd_rows(student, teacher, target, dkd_alpha, dkd_beta, temperature)
    if base == "nkd":
        return nkd_rows(student, teacher, target, temperature, nkd_gamma, nkd_mode)
    raise ValueError(f"base must be one of {BASE_LOSSES}, got {base!r}")


def scale_decoupled_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    *,
    base: BaseLoss = "kd",
    beta: float = 2.0,
    temperature: float = 4.0,
    dkd_alpha: float = 1.0,
    dkd_beta: float = 8.0,
    nkd_gamma: float = 8.0,
    nkd_mode: Literal["paper", "code"] = "paper",
) -> torch.Tensor:
    """L_SDD = sum_{b,n} w[b,n] * l[b,n] / (B * N), w = beta on complementary regions, else 1.

    Args:
        student, teacher: multi-scale logits (B, K, N) with region 0 the global logit.
        target: labels (B,).
    Returns:
        A scalar tensor. Never replaced by zero when non-finite: the caller decides what to do.
    """
    if student.shape != teacher.shape or student.dim() != 3:
        raise ValueError(f"student and teacher must both be (B, K, N), got {tuple(student.shape)} and {tuple(teacher.shape)}")
    batch, classes, regions = student.shape
    rows_s = student.transpose(1, 2).reshape(batch * regions, classes)  # (B*N, K), sample-major
    rows_t = teacher.transpose(1, 2).reshape(batch * regions, classes)  # (B*N, K)
    rows_y = target.repeat_interleave(regions)  # (B*N,)
    per_row = base_loss_rows(
        base, rows_s, rows_t, rows_y,
        temperature=temperature, dkd_alpha=dkd_alpha, dkd_beta=dkd_beta,
        nkd_gamma=nkd_gamma, nkd_mode=nkd_mode,
    ).view(batch, regions)  # (B, N)
    weights = torch.where(complementary_mask(teacher, target), beta, 1.0).to(per_row.dtype)  # (B, N)
    return (weights * per_row).sum() / (batch * regions)
