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

from typing import Literal

import torch
import torch.nn.functional as F

from sdd_core.losses.non_target import non_target_mask, split_target

NKD_MODES = ("paper", "code")


def nkd_rows(
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    temperature: float,
    nkd_gamma: float,
    nkd_mode: Literal["paper", "code"] = "paper",
) -> torch.Tensor:
    """Per-row NKD loss; (R, K) logits and (R,) targets -> (R,)."""
    if nkd_mode not in NKD_MODES:
        raise ValueError(f"nkd_mode must be one of {NKD_MODES}, got {nkd_mode!r}")
    teacher = teacher.detach()
    index = target.unsqueeze(1)  # (R, 1)
    log_p_s_y = F.log_softmax(student, dim=1).gather(1, index).squeeze(1)  # (R,)
    p_t_y = F.softmax(teacher, dim=1).gather(1, index).squeeze(1)  # (R,)
    target_term = -p_t_y * log_p_s_y

    z_s = student / temperature
    z_t = teacher / temperature
    if nkd_mode == "paper":
        mask = non_target_mask(student, target)
        _, z_s = split_target(z_s, target, mask)  # (R, K-1)
        _, z_t = split_target(z_t, target, mask)  # (R, K-1)
    cross_entropy = -(F.softmax(z_t, dim=1) * F.log_softmax(z_s, dim=1)).sum(dim=1)  # (R,)
    return target_term + nkd_gamma * temperature**2 * cross_entropy


def nkd_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    target: torch.Tensor,
    temperature: float,
    nkd_gamma: float,
    nkd_mode: Literal["paper", "code"] = "paper",
) -> torch.Tensor:
    """NKD loss on global logits (B, K), averaged over the batch."""
    return nkd_rows(student, teacher, target, temperature, nkd_gamma, nkd_mode).mean()
