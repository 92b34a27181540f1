"""The distilled student as ``safetensors`` plus a model card (JSON) that says how it was made."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

import sdd_core
from sdd_core.data import DatasetInfo
from sdd_core.spec import JobSpec
from sdd_core.trainer.checkpoint import atomic_write
from sdd_core.trainer.evaluation import Evaluation


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_student(model: nn.Module, path: Path) -> str:
    """Write the student's state dict as safetensors atomically; returns its sha256."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
    return sha256_file(path)


def build_card(
    spec: JobSpec,
    info: DatasetInfo,
    model: nn.Module,
    *,
    weights_sha256: str,
    final: dict[str, Any],
    best: dict[str, Any],
    teacher: dict[str, Any] | None,
    evaluation: Evaluation | None = None,
    agreement_top1: float | None = None,
    training: dict[str, Any] | None = None,
    exported_epoch: int | None = None,
    exports: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything a user needs to load and trust the student.

    ``evaluation`` (the final one, on the split reported: test under ``held_out``) gives ``per_class`` ({"correct", "total"}, one entry per class
    in ``classes`` order), ``confusion`` (``confusion[true][predicted]``) and ``val_loss``;
    ``agreement_top1`` is the percent of validation images where the student's top-1 is the
    teacher's (None without a teacher); ``training`` says how
    it ran (data path and augmentation, device, precision, compilation).
    """
    card = {
        "format": "sdd-model-card/1",
        "created_at": datetime.now(UTC).isoformat(),
        "sdd_core_version": sdd_core.__version__,
        "arch": spec.student,
        "num_classes": info.num_classes,
        "classes": list(info.classes),
        "parameters": sum(p.numel() for p in model.parameters()),
        "dataset": info.to_dict(),
        "normalisation": {"mean": list(info.mean), "std": list(info.std), "image_size": info.image_size},
        "method": spec.method,
        "scales": spec.scales,  # null for a method that is not scale-decoupled, as beta
        "beta": spec.beta,
        "seed": spec.seed,
        "protocol": {"name": spec.protocol},  # completed with its splits by the trainer (finish.py)
        "hyperparameters": spec.hyperparameters.model_dump(),
        "teacher": teacher,
        "final_metrics": final,
        "best_metrics": best,
        "weights_sha256": weights_sha256,
        "weights_format": "safetensors",
        "exports": exports or {},  # the same weights as ONNX / TorchScript, by format (export_formats.py)
        "export": spec.resolved_hyperparameters.export,  # 'last' or 'best': whose weights these are
        "exported_epoch": exported_epoch,
        "training": training,
    }
    if evaluation is not None:
        card["per_class"] = evaluation.per_class()
        card["confusion"] = evaluation.confusion_lists()
        card["val_loss"] = evaluation.val_loss
    card["agreement_top1"] = agreement_top1
    return card


def save_card(card: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(card, indent=2, sort_keys=True)))
