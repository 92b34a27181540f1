"""Fixtures shared by the sdd_core tests: a small teacher trained on digits, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainOptions, train


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def digits_teacher(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict:
    """A resnet8 trained with plain CE on digits for a few epochs: {"arch", "checkpoint", "val_top1"}."""
    out = tmp_path_factory.mktemp("teacher")
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="ce",
        seed=0,
        hyperparameters={"epochs": 4, "batch_size": 64, "lr": 0.1, "lr_decay_epochs": [3]},
    )
    result = train(spec, out, options=TrainOptions(data_root=data_root))
    return {"arch": "resnet8", "checkpoint": str(result.student_path), "val_top1": result.final["val_top1"]}
