"""Classic knowledge distillation (Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural
Network", 2015): ``L_KD = T^2 * KL(softmax(z_t / T) || softmax(z_s / T))``.

Every loss of this package takes ``(student_logits, teacher_logits, labels, *, temperature, <its
own weights>)``; KD uses no labels, so it takes none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_rows(student_logits: torch.Tensor, teacher_logits: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """Per-row KD loss ``T^2 * KL(softmax(t/T) || softmax(s/T))`` (Hinton et al. 2015).

    Args:
        student_logits, teacher_logits: logits (R, K); the teacher's are detached.
        temperature: T.
    Returns:
        (R,) losses. Both distributions stay in log-space, so logits of magnitude 1e3 are finite.
    """
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)  # (R, K)
    log_p_t = F.log_softmax(teacher_logits.detach() / temperature, dim=1)  # (R, K)
    kl = F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(dim=1)  # (R,)
    return kl * temperature**2


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, *, temperature: float) -> torch.Tensor:
    """KD loss on global logits (B, K), averaged over the batch."""
    return kd_rows(student_logits, teacher_logits, temperature=temperature).mean()
