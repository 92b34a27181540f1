"""Evaluate a saved model on a dataset's validation split (``sdd evaluate``)."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import DataLoader

from sdd_core.data import build_datasets
from sdd_core.trainer.evaluation import evaluate
from sdd_core.trainer.runtime import resolve_device
from sdd_core.trainer.teacher import load_teacher


def evaluate_weights(
    arch: str,
    weights: str | Path,
    dataset: str,
    *,
    data_root: str | Path,
    image_size: int | None = None,
    batch_size: int = 256,
    device: str = "auto",
) -> dict[str, float]:
    """``{"val_loss", "val_top1", "val_top5"}`` of ``arch`` loaded strictly from ``weights``."""
    _, val_set, info = build_datasets(dataset, data_root=data_root, image_size=image_size)
    target = resolve_device(device)
    model = load_teacher(arch, weights, info.num_classes).to(target)
    return evaluate(model, DataLoader(val_set, batch_size=batch_size), target)
