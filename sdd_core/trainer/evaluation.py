"""Top-1 / top-5 accuracy, loss and the confusion matrix of a classifier over a split, and the
student's top-1 agreement with its teacher.

The sums stay on the device while the batches run (one read at the end), so an evaluation on
the device-resident data never waits for the host between batches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sdd_core.trainer.runtime import autocast, inference


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """Number of rows whose label is among the top-k logits, for each k (k capped at K)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices  # (B, k_max)
    hits = top == labels.unsqueeze(1)  # (B, k_max)
    return [int(hits[:, : min(k, logits.shape[1])].any(dim=1).sum()) for k in ks]


@dataclass(frozen=True)
class Evaluation:
    """One pass over a split: loss and accuracies (percent) and ``confusion[true, predicted]`` (K, K)."""

    val_loss: float
    val_top1: float
    val_top5: float
    confusion: torch.Tensor

    def metrics(self) -> dict[str, float]:
        """``{"val_loss", "val_top1", "val_top5"}``, as the epoch metrics hold them."""
        return {"val_loss": self.val_loss, "val_top1": self.val_top1, "val_top5": self.val_top5}

    def per_class(self) -> dict[str, list[int]]:
        """``{"correct": [...], "total": [...]}``: per class, images predicted right and images."""
        return {"correct": self.confusion.diagonal().tolist(), "total": self.confusion.sum(dim=1).tolist()}

    def confusion_lists(self) -> list[list[int]]:
        return self.confusion.tolist()


def evaluate_split(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    *,
    num_classes: int,
    precision: str = "fp32",
    channels_last: bool = False,
) -> Evaluation:
    """Evaluate ``model`` on every batch (moved to ``device`` if they are not there already)."""
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    hits = torch.zeros(2, dtype=torch.int64, device=device)  # top-1, top-5
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64, device=device)
    total = 0
    with inference(model), autocast(device, precision):
        for images, labels in batches:
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            labels = labels.to(device, non_blocking=True)
            logits = model(images).float()  # (B, K)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").double()
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices  # (B, k)
            found = top == labels.unsqueeze(1)  # (B, k)
            hits += torch.stack([found[:, 0].sum(), found.any(dim=1).sum()])
            cells = labels * num_classes + top[:, 0]  # (B,): row-major (true, predicted)
            confusion.index_add_(0, cells, torch.ones_like(cells))
            total += labels.shape[0]
    matrix = confusion.view(num_classes, num_classes).cpu()  # (K*K,) -> (K, K)
    if total == 0:
        return Evaluation(float("nan"), 0.0, 0.0, matrix)
    top1, top5 = hits.tolist()
    return Evaluation(float(loss_sum) / total, 100.0 * top1 / total, 100.0 * top5 / total, matrix)


def top1_agreement(
    student: nn.Module,
    teacher: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    *,
    precision: str = "fp32",
) -> float | None:
    """Percent of images whose student top-1 class is the teacher's top-1 class; None without images."""
    same = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    with inference(student), inference(teacher), autocast(device, precision):
        for images, _labels in batches:
            images = images.to(device, non_blocking=True)
            student_top1 = student(images).argmax(dim=1)  # (B,)
            teacher_top1 = teacher(images).argmax(dim=1)  # (B,)
            same += (student_top1 == teacher_top1).sum()
            total += images.shape[0]
    return 100.0 * int(same) / total if total else None


def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    *,
    channels_last: bool = False,
) -> dict[str, float]:
    """``{"val_loss", "val_top1", "val_top5"}`` (accuracies in percent) over ``loader``'s batches."""
    num_classes = _classes_of(model)
    return evaluate_split(model, loader, device, num_classes=num_classes, channels_last=channels_last).metrics()


def _classes_of(model: nn.Module) -> int:
    head = getattr(model, "get_classifier", None)
    if head is not None:
        return int(head().out_features)
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError("cannot tell the number of classes of a model without a linear head")
    return int(linears[-1].out_features)
