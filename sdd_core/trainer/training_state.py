"""What the training loop carries from batch to batch, epoch to epoch and run to run.

    EpochSums     the running sums of one epoch, which its metrics are made of
    BestEpoch     the epoch with the best validation top-1 so far
    PartialEpoch  a stop inside an epoch: how far it got, its sums, every RNG's state
    stops_early   whether the epochs since the best one have used up the early-stopping patience

A checkpoint is read back with ``torch.load(weights_only=True)``, so it holds these as plain dicts
(``dataclasses.asdict``) under the keys they have always had; ``from_state`` rebuilds them from
every checkpoint format the trainer reads (keys an older checkpoint lacks take their defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sdd_core.trainer.options import EpochMetrics


@dataclass
class EpochSums:
    """Sums over one epoch's steps: loss, ce, kd and complementary (the share of complementary
    regions, SD methods) over the finite steps; correct and images for the train top-1; steps;
    nonfinite, the steps skipped for a non-finite loss; seconds spent training."""

    loss: float = 0.0
    ce: float = 0.0
    kd: float = 0.0
    correct: int = 0
    images: int = 0
    steps: int = 0
    nonfinite: int = 0
    complementary: float = 0.0
    seconds: float = 0.0

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> EpochSums:
        """Rebuild from a checkpoint's ``sums`` (earlier versions wrote the counts as floats)."""
        return cls(
            loss=float(state.get("loss", 0.0)),
            ce=float(state.get("ce", 0.0)),
            kd=float(state.get("kd", 0.0)),
            correct=int(state.get("correct", 0)),
            images=int(state.get("images", 0)),
            steps=int(state.get("steps", 0)),
            nonfinite=int(state.get("nonfinite", 0)),
            complementary=float(state.get("complementary", 0.0)),
            seconds=float(state.get("seconds", 0.0)),
        )


@dataclass(frozen=True)
class BestEpoch:
    """The epoch with the best validation top-1 so far; ``epoch`` is None before the first one."""

    epoch: int | None = None
    val_top1: float = 0.0
    val_top5: float | None = None

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> BestEpoch:
        epoch, top5 = state.get("epoch"), state.get("val_top5")
        return cls(
            epoch=None if epoch is None else int(epoch),
            val_top1=float(state.get("val_top1", 0.0)),
            val_top5=None if top5 is None else float(top5),
        )


def stops_early(best: BestEpoch, epochs_done: int, patience: int | None) -> bool:
    """True when the ``patience`` epochs after the best one (through ``epochs_done``) brought no
    validation top-1 gain; never with ``patience`` None (off)."""
    return patience is not None and best.epoch is not None and epochs_done - best.epoch >= patience


@dataclass
class PartialEpoch:
    """A stop inside ``epoch`` after ``batch`` of its batches: their sums, and the state of every
    RNG after the last one (``runtime.rng_state``), from which the next batch continues."""

    epoch: int
    batch: int
    sums: EpochSums = field(default_factory=EpochSums)
    rng: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PartialEpoch:
        return cls(
            epoch=int(state["epoch"]),
            batch=int(state["batch"]),
            sums=EpochSums.from_state(state.get("sums") or {}),
            rng=dict(state.get("rng") or {}),
        )


def epoch_metrics(
    *,
    epoch: int,
    epochs: int,
    lr: float,
    sums: EpochSums,
    val: Mapping[str, float],
    best: BestEpoch,
    scale_decoupled: bool,
    data_path: str | None = None,
) -> EpochMetrics:
    """The metrics of a finished epoch, as ``on_epoch_end`` and ``metrics.jsonl`` get them (see
    ``options.EpochMetrics``; the keys and their order are what the job service stores)."""
    finite_steps = max(sums.steps - sums.nonfinite, 1)
    return {
        "epoch": epoch,
        "epochs": epochs,
        "lr": lr,
        "train_loss": sums.loss / finite_steps,
        "train_ce": sums.ce / finite_steps,
        "train_kd": sums.kd / finite_steps,
        "train_top1": 100.0 * sums.correct / max(sums.images, 1),
        **val,
        "images_per_s": sums.images / max(sums.seconds, 1e-9),
        "complementary_share": (sums.complementary / finite_steps) if scale_decoupled else None,
        "nonfinite_steps": sums.nonfinite,
        "seconds": sums.seconds,
        "best_val_top1": best.val_top1,
        "data_path": data_path,
    }
