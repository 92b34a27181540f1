"""Training: ``check_compatibility(spec, options)``, then ``train(spec, out_dir, options=, callbacks=,
resume_from=) -> TrainResult``."""

from sdd_core.trainer.checkpoint import CheckpointError, CheckpointPosition, checkpoint_position, load_checkpoint
from sdd_core.trainer.compatibility import check_compatibility
from sdd_core.trainer.loop import CARD_NAME, CHECKPOINT_NAME, METRICS_NAME, STUDENT_NAME, train
from sdd_core.trainer.options import EpochMetrics, StopPoint, TrainCallbacks, TrainOptions, TrainResult

__all__ = [
    "CARD_NAME",
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "STUDENT_NAME",
    "CheckpointError",
    "CheckpointPosition",
    "EpochMetrics",
    "StopPoint",
    "TrainCallbacks",
    "TrainOptions",
    "TrainResult",
    "check_compatibility",
    "checkpoint_position",
    "load_checkpoint",
    "train",
]
