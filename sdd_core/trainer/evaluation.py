"""Top-1 / top-5 accuracy and loss of a classifier over a loader."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from sdd_core.trainer.runtime import inference


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """Number of rows whose label is among the top-k logits, for each k (k capped at K)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices  # (B, k_max)
    hits = top == labels.unsqueeze(1)  # (B, k_max)
    return [int(hits[:, : min(k, logits.shape[1])].any(dim=1).sum()) for k in ks]


def evaluate(
    model: nn.Module, loader: DataLoader, device: torch.device, *, channels_last: bool = False
) -> dict[str, float]:
    """``{"val_loss", "val_top1", "val_top5"}`` (accuracies in percent)."""
    total, loss_sum, top1, top5 = 0, 0.0, 0, 0
    with inference(model):
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            labels = labels.to(device, non_blocking=True)
            logits = model(images).float()
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            c1, c5 = topk_correct(logits, labels)
            top1, top5, total = top1 + c1, top5 + c5, total + labels.shape[0]
    if total == 0:
        return {"val_loss": float("nan"), "val_top1": 0.0, "val_top5": 0.0}
    return {"val_loss": loss_sum / total, "val_top1": 100.0 * top1 / total, "val_top5": 100.0 * top5 / total}
