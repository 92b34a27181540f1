"""Classic knowledge distillation (Hinton, Vinyals, Dean, 2015)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_rows(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-row KD loss T^2 * KL(softmax(t/T) || softmax(s/T)).

    Args:
        student, teacher: logits (R, K).
    Returns:
        (R,) losses. Both distributions stay in log-space, so logits of magnitude 1e3 are finite.
    """
    log_p_s = F.log_softmax(student / temperature, dim=1)  # (R, K)
    log_p_t = F.log_softmax(teacher.detach() / temperature, dim=1)  # (R, K)
    kl = F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(dim=1)  # (R,)
    return kl * temperature**2


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KD loss on global logits (B, K), averaged over the batch."""
    return kd_rows(student, teacher, temperature).mean()
