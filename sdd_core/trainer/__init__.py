"""Training: ``check_compatibility(spec, options)``, then ``train(spec, out_dir, options=, callbacks=,
resume_from=) -> TrainResult``; several students on one teacher forward per batch:
``train_group([GroupMember(...), ...], options=)``.

Each name loads its module when first used (``sdd_core.lazy_exports``): the REST API checks a
submission with ``check_architectures`` and never imports the loop, its losses or its exporters.
"""

from typing import TYPE_CHECKING

from sdd_core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sdd_core.trainer.checkpoint import (
        CheckpointError,
        CheckpointPosition,
        checkpoint_position,
        load_checkpoint,
    )
    from sdd_core.trainer.compatibility import check_architectures, check_compatibility
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
else:  # at run time each name loads its module when first read
    __getattr__ = lazy_exports(
        __name__,
        {
            "checkpoint": ["CheckpointError", "CheckpointPosition", "checkpoint_position", "load_checkpoint"],
            "compatibility": ["check_architectures", "check_compatibility"],
            "loop": [
                "CARD_NAME",
                "CHECKPOINT_NAME",
                "METRICS_NAME",
                "STUDENT_NAME",
                "GroupMember",
                "lockstep_key",
                "train",
                "train_group",
            ],
            "options": ["EpochMetrics", "StopPoint", "TrainCallbacks", "TrainOptions", "TrainResult"],
        },
    )

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
    "check_architectures",
    "check_compatibility",
    "checkpoint_position",
    "load_checkpoint",
    "lockstep_key",
    "train",
    "train_group",
]
