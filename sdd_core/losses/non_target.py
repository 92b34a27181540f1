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
    """(target logit (R,), non-target logits (R, K-1)) of each row, order of classes kept.

    A gather by indices that step over each row's target, not boolean-mask indexing: the result's
    size is known without reading the mask, so no step waits for the device (``mask`` is the
    ``non_target_mask`` of the same rows, kept in the signature for the callers that build it).
    """
    rows, classes = logits.shape
    target_logit = logits.gather(1, labels.unsqueeze(1)).squeeze(1)  # (R,)
    columns = torch.arange(classes - 1, device=logits.device).expand(rows, classes - 1)  # (R, K-1)
    columns = columns + (columns >= labels.unsqueeze(1)).long()  # skip each row's target column
    return target_logit, logits.gather(1, columns)  # (R, K-1)
