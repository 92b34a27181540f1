"""Helpers that split logits into the target class and the K-1 non-target classes."""

from __future__ import annotations

import torch


def non_target_mask(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Boolean mask (R, K) that is False at each row's target class."""
    if logits.shape[1] < 2:
        raise ValueError("target/non-target decompositions need at least 2 classes")
    mask = torch.ones_like(logits, dtype=torch.bool)  # (R, K)
    return mask.scatter_(1, labels.unsqueeze(1), False)


def split_target(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(target logit (R,), non-target logits (R, K-1)) of each row, order of classes kept."""
    rows, classes = logits.shape
    target_logit = logits.gather(1, labels.unsqueeze(1)).squeeze(1)  # (R,)
    others = logits[mask].view(rows, classes - 1)  # (R*(K-1),) -> (R, K-1)
    return target_logit, others
