"""Decoupled knowledge distillation (Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022).

DKD splits KD into a target-class term (TCKD, a KL between the binary masses [p_y, 1 - p_y]) and a
non-target term (NCKD, a KL between the distributions over the K-1 other classes), Eq. (4)-(7):
``DKD = alpha * TCKD + beta * NCKD``, both scaled by T^2.

Paper vs authors' code: the reference implementation masks the target with ``-1000`` and takes the
log of the binary masses directly, which overflows to Inf/NaN for confident rows. Here both terms
are computed exactly in log-space: ``log(1 - p_y) = logsumexp(non-target) - logsumexp(all)``, and
the target column is removed rather than masked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sdd_core.losses.non_target import non_target_mask, split_target


def _binary_log_masses(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log [p_y, 1 - p_y] of softmax(logits), (R, 2), computed without leaving log-space."""
    target_logit, others = split_target(logits, labels, mask)  # (R,), (R, K-1)
    log_all = torch.logsumexp(logits, dim=1)  # (R,)
    return torch.stack([target_logit - log_all, torch.logsumexp(others, dim=1) - log_all], dim=1)  # (R, 2)


def dkd_rows(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float,
    dkd_alpha: float,
    dkd_beta: float,
) -> torch.Tensor:
    """Per-row DKD loss ``T^2 * (alpha * TCKD + beta * NCKD)`` (Zhao et al. 2022, Eq. 7).

    ``TCKD = KL(b^t || b^s)`` with ``b = [p_y, 1 - p_y]`` of ``p = softmax(z / T)``;
    ``NCKD = KL(q^t || q^s)`` with ``q`` the softmax over the K-1 non-target logits at T.

    Args:
        student_logits, teacher_logits: logits (R, K), K >= 2; the teacher's are detached.
        labels: target classes (R,).
        temperature: T.
        dkd_alpha, dkd_beta: the weights alpha (TCKD) and beta (NCKD) of the paper.
    Returns:
        (R,) losses.
    """
    mask = non_target_mask(student_logits, labels)  # (R, K)
    z_s = student_logits / temperature  # (R, K)
    z_t = teacher_logits.detach() / temperature  # (R, K)

    log_b_s = _binary_log_masses(z_s, labels, mask)  # (R, 2)
    log_b_t = _binary_log_masses(z_t, labels, mask)  # (R, 2)
    tckd = F.kl_div(log_b_s, log_b_t, reduction="none", log_target=True).sum(dim=1)  # (R,)

    _, others_s = split_target(z_s, labels, mask)  # (R, K-1)
    _, others_t = split_target(z_t, labels, mask)  # (R, K-1)
    nckd = F.kl_div(
        F.log_softmax(others_s, dim=1), F.log_softmax(others_t, dim=1), reduction="none", log_target=True
    ).sum(dim=1)  # (R,)
    return (dkd_alpha * tckd + dkd_beta * nckd) * temperature**2


def dkd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float,
    dkd_alpha: float,
    dkd_beta: float,
) -> torch.Tensor:
    """DKD loss on global logits (B, K), averaged over the batch."""
    return dkd_rows(
        student_logits, teacher_logits, labels, temperature=temperature, dkd_alpha=dkd_alpha, dkd_beta=dkd_beta
    ).mean()
