"""Training: ``check_compatibility(spec, options)``, then ``train(spec, out_dir, options=, callbacks=,
resume_from=) -> TrainResult``; several students on one teacher forward per batch:
``train_group([GroupMember(...), ...], options=)``."""

from sdd_core.trainer.checkpoint import CheckpointError, CheckpointPosition, checkpoint_position, load_checkpoint
from sdd_core.trainer.compatibility import check_compatibility
from sdd_core.trainer.loop import (
    CARD_NAME,
    CHECKPOINT_NAME,
    METRICS_NAME,
    STUDENT_NAME,
    GroupMember,
    lockstep_key,
    train,
    train_group,
)
from sdd_core.trainer.options import EpochMetrics, StopPoint, TrainCallbacks, TrainOptions, TrainResult

__all__ = [
    "CARD_NAME",
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "STUDENT_NAME",
    "CheckpointError",
    "CheckpointPosition",
    "EpochMetrics",
    "GroupMember",
    "StopPoint",
    "TrainCallbacks",
    "TrainOptions",
    "TrainResult",
    "check_compatibility",
    "checkpoint_position",
    "load_checkpoint",
    "lockstep_key",
    "train",
    "train_group",
]
