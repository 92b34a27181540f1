"""Normalized knowledge distillation (Yang et al., "From Knowledge Distillation to Self-Knowledge
Distillation: A Unified Approach with Normalized Loss and Customized Soft Labels", ICCV 2023).

Eq. (8) of NKD: ``L = -p^t_y * log p^s_y  -  gamma * T^2 * sum_{i != y} q^t_i * log q^s_i``, where the
target term uses T = 1 with the teacher probability detached, and ``q`` are the *normalised*
non-target distributions at temperature T (softmax over the K-1 non-target classes).

Paper vs SDD authors' code: the SDD code's mask keeps the target class in the second term, i.e. it
uses the full softmax at temperature T there. ``nkd_mode="paper"`` (default) removes the target;
``nkd_mode="code"`` keeps it, which is what produced the SDD paper's NKD rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sdd_core.losses.non_target import non_target_mask, split_target
from sdd_core.methods import NKDMode

NKD_MODES: tuple[NKDMode, ...] = ("paper", "code")


def nkd_rows(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float,
    nkd_gamma: float,
    nkd_mode: NKDMode = "paper",
) -> torch.Tensor:
    """Per-row NKD loss (Yang et al. 2023, Eq. 8).

    Args:
        student_logits, teacher_logits: logits (R, K), K >= 2; the teacher's are detached.
        labels: target classes (R,).
        temperature: T of the non-target term (the target term uses T = 1).
        nkd_gamma: the weight gamma of the non-target term.
        nkd_mode: ``"paper"`` removes the target class from the non-target term, ``"code"`` keeps it.
    Returns:
        (R,) losses.
    """
    if nkd_mode not in NKD_MODES:
        raise ValueError(f"nkd_mode must be one of {NKD_MODES}, got {nkd_mode!r}")
    teacher_logits = teacher_logits.detach()
    index = labels.unsqueeze(1)  # (R, 1)
    log_p_s_y = F.log_softmax(student_logits, dim=1).gather(1, index).squeeze(1)  # (R,)
    p_t_y = F.softmax(teacher_logits, dim=1).gather(1, index).squeeze(1)  # (R,)
    target_term = -p_t_y * log_p_s_y  # (R,)

    z_s = student_logits / temperature  # (R, K)
    z_t = teacher_logits / temperature  # (R, K)
    if nkd_mode == "paper":
        mask = non_target_mask(student_logits, labels)  # (R, K)
        _, z_s = split_target(z_s, labels, mask)  # (R, K-1)
        _, z_t = split_target(z_t, labels, mask)  # (R, K-1)
    cross_entropy = -(F.softmax(z_t, dim=1) * F.log_softmax(z_s, dim=1)).sum(dim=1)  # (R,)
    return target_term + nkd_gamma * temperature**2 * cross_entropy


def nkd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float,
    nkd_gamma: float,
    nkd_mode: NKDMode = "paper",
) -> torch.Tensor:
    """NKD loss on global logits (B, K), averaged over the batch."""
    return nkd_rows(
        student_logits, teacher_logits, labels, temperature=temperature, nkd_gamma=nkd_gamma, nkd_mode=nkd_mode
    ).mean()
