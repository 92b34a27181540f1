"""What the caller hands the trainer besides the spec, and what it gets back.

``JobSpec`` says *what* to train; ``TrainOptions`` says *where* (data root, download permission,
loader workers, how much data may live on the device); ``TrainCallbacks`` let a caller observe
and steer the loop without the trainer knowing who it is (the CLI draws a progress bar, the job
service writes SQL rows and polls a cancel flag); ``TrainResult`` is the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

EpochMetrics = dict[str, Any]
"""One finished epoch: epoch, epochs, lr, train_loss, train_ce, train_kd, train_top1, val_loss,
val_top1, val_top5 (percent), images_per_s, complementary_share (SD methods, else None),
nonfinite_steps, seconds, best_val_top1, data_path ("device" or "loader", see ``data_path.py``)."""


@dataclass
class TrainOptions:
    data_root: Path = Path("data")
    allow_download: bool = False
    allow_weight_downloads: bool = False
    """Fetch pretrained weights missing from the local caches (torch hub, Hugging Face); else such a
    job fails naming the file it needs."""
    num_workers: int | None = None
    """Loader processes (the loader path); a job's ``loader_workers`` overrides it. None: from the
    CPUs this process may use when a GPU trains, none on the CPU (``loader_batches.default_workers``)."""
    device_data_max_bytes: int | None = None
    """Largest train + val splits held on the training device (the device-resident path); 0: never.
    None: a quarter of the device's memory (of the host's on the CPU)."""
    device_decode: bool | None = None
    """Decode a large-image folder of JPEGs on the training device (nvJPEG on CUDA) instead of in
    the loader's workers; None: on a GPU only."""
    fetch_shard: Callable[[str, str], Path] | None = None
    """For a sharded dataset (``shards:<index.json>``, see ``sdd_core.data.shard_index``): a local
    file with the bytes of shard ``key`` whose SHA-256 is ``sha256`` (the service's node cache of
    its artifact store); None: keys are paths relative to the index's folder. Called in the
    loader's worker processes too."""
    max_nonfinite_fraction: float = 0.5  # an epoch with more skipped steps than this fails the job
    report_seconds: float = 1.0
    """At most one progress report (``on_batch_end`` with loss parts) per this many seconds: reading
    the parts waits for the device, so the other batches report their position only."""
    world_size: int = 1
    """Ranks training this job together; above 1 the caller has initialised the process group and
    this process is rank ``rank`` (``distributed.py``). 1: a single process, no torch.distributed."""
    rank: int = 0


@dataclass
class TrainCallbacks:
    """Hooks called by the loop. Every one is optional; exceptions raised in them abort training."""

    on_epoch_end: Callable[[EpochMetrics], None] | None = None
    """After each epoch's evaluation and before its checkpoint, so an epoch that a resume skips
    has always been reported (a replayed epoch is reported again; callers record it once)."""
    on_checkpoint: Callable[[int, Path], None] | None = None
    """(epoch, path) after the epoch's checkpoint was written atomically at ``path``."""
    on_batch_end: Callable[[int, int, int, dict[str, float]], None] | None = None
    """(epoch, batch index from 1, batches per epoch, parts) after each step. ``parts`` is the
    step's {loss, ce, kd} at a report point (at most once per ``TrainOptions.report_seconds``)
    and empty at the other batches, so that no step waits for the device."""
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
    exports: dict[str, Path] = field(default_factory=dict)
    """When completed: the student in the other formats that passed their check, by format (``export_formats.py``)."""
    refused_exports: dict[str, str] = field(default_factory=dict)
    """When completed: why each format missing from ``exports`` was not kept."""
    checkpoint_path: Path | None = None  # last checkpoint written
    stopped_at: StopPoint | None = None  # when stopped: the checkpoint at checkpoint_path is inside this epoch
    card: dict[str, Any] = field(default_factory=dict)
    per_class: dict[str, list[int]] | None = None
    """When completed: the final evaluation's {"correct": [...], "total": [...]}, one entry per class."""
    confusion: list[list[int]] | None = None
    """When completed: the final evaluation's confusion matrix, ``confusion[true][predicted]``."""
    agreement_top1: float | None = None
    """When completed with a teacher: percent of validation images where the student's top-1 is the teacher's."""
    stopped_early_at_epoch: int | None = None
    """When completed by early stopping: the last epoch trained (``epochs_completed``), after
    ``early_stopping_patience`` epochs without a validation top-1 gain."""
    exported_epoch: int | None = None
    """When completed: the epoch whose weights were exported (the last one, or the best with ``export: best``)."""
    protocol: dict[str, Any] = field(default_factory=dict)
    """When completed: the card's ``protocol`` (name, held-out part and its digest, val_top1, test_top1)."""
    test_top1: float | None = None
    """When completed under ``held_out``: the exported student's top-1 on the test split, evaluated once."""
