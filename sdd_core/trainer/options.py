"""What the caller hands the trainer besides the spec, and what it gets back.

``JobSpec`` says *what* to train; ``TrainOptions`` says *where* (data root, download permission,
loader workers); ``TrainCallbacks`` let a caller observe and steer the loop without the trainer
knowing who it is (the CLI draws a progress bar, the job service writes SQL rows and polls a
cancel flag); ``TrainResult`` is the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

EpochMetrics = dict[str, Any]
"""One finished epoch: epoch, epochs, lr, train_loss, train_ce, train_kd, train_top1, val_loss,
val_top1, val_top5 (percent), best_val_top1, images_per_s, complementary_share (SD methods, else
None), nonfinite_steps, seconds."""


@dataclass
class TrainOptions:
    data_root: Path = Path("data")
    allow_download: bool = False
    num_workers: int = 0
    max_nonfinite_fraction: float = 0.5  # an epoch with more skipped steps than this fails the job


@dataclass
class TrainCallbacks:
    """Hooks called by the loop. Every one is optional; exceptions raised in them abort training."""

    on_epoch_end: Callable[[EpochMetrics], None] | None = None
    """After each epoch's evaluation and before its checkpoint, so an epoch that a resume skips
    has always been reported (a replayed epoch is reported again; callers record it once)."""
    on_checkpoint: Callable[[int, Path], None] | None = None
    """(epoch, path) after the epoch's checkpoint was written atomically at ``path``."""
    on_batch_end: Callable[[int, int, int, dict[str, float]], None] | None = None
    """(epoch, batch index from 1, batches per epoch, {loss, ce, kd}) after each step."""
    should_stop: Callable[[], bool] | None = None
    """Polled after every batch; True stops the loop there: the trainer writes a checkpoint of the
    partial epoch (``TrainResult.stopped_at``) and returns; resuming from it continues with the
    next batch and ends with the weights of an uninterrupted run."""


@dataclass(frozen=True)
class StopPoint:
    """Where a stopped run stopped: ``batch`` batches of ``epoch`` (of ``batches``) were trained."""

    epoch: int
    batch: int
    batches: int


@dataclass
class TrainResult:
    status: Literal["completed", "stopped"]
    epochs_completed: int
    final: EpochMetrics | None
    best_val_top1: float
    student_path: Path | None = None  # safetensors, when completed
    card_path: Path | None = None  # model card JSON, when completed
    checkpoint_path: Path | None = None  # last checkpoint written
    stopped_at: StopPoint | None = None  # when stopped: the checkpoint at checkpoint_path is inside this epoch
    card: dict[str, Any] = field(default_factory=dict)
