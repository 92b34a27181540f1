"""How a student leaves its group with a result: stopped inside an epoch, or exported.

    stop_inside_epoch   the checkpoint of the partial epoch (resuming continues with the next batch)
    export_student_run  the exported weights (the last epoch's, or the best epoch's with
                        ``export: best``, chosen on the validation split) -> their final
                        evaluation, and with ``held_out`` their one evaluation on the test split
                        -> per class and the teacher agreement on the split reported -> safetensors and the other formats -> what the student costs
                        to run (``sdd_core.cost``: parameters, FLOPs, latency) -> the model card

Both return the ``TrainResult`` the student leaves with (``Student.leave``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import torch

from sdd_core.cost import student_cost
from sdd_core.trainer.data_path import TrainingData
from sdd_core.trainer.evaluation import top1_agreement
from sdd_core.trainer.export import build_card, save_card, save_student
from sdd_core.trainer.export_formats import CHECK_IMAGES, export_student
from sdd_core.trainer.options import StopPoint, TrainResult
from sdd_core.trainer.shared import Shared
from sdd_core.trainer.student import Student, write_checkpoint
from sdd_core.trainer.training_state import PartialEpoch

log = logging.getLogger(__name__)

STUDENT_NAME = "student.safetensors"
CARD_NAME = "card.json"


def stop_inside_epoch(student: Student, epoch: int, rng: dict[str, Any], shared: Shared) -> TrainResult:
    """Stopped inside ``epoch`` with the global RNGs at ``rng``: checkpoint there, so that the next
    run continues after this batch."""
    assert student.epoch_run is not None
    progress = student.epoch_run.progress
    sums = progress.finish()
    write_checkpoint(student, shared, PartialEpoch(epoch=epoch, batch=progress.batches_done, sums=sums, rng=rng))
    stop = StopPoint(epoch=epoch, batch=progress.batches_done, batches=progress.batches)
    log.info("%s: stopped at batch %d/%d of epoch %d; checkpoint written", student.spec.student, stop.batch,
             stop.batches, epoch)  # fmt: skip
    return TrainResult(
        status="stopped",
        epochs_completed=epoch - 1,
        final=student.progress.last,
        best_val_top1=student.progress.best.val_top1,
        checkpoint_path=student.outputs.checkpoint_path,
        stopped_at=stop,
    )


def export_student_run(student: Student, shared: Shared) -> TrainResult:
    """The student and its card, with the final evaluation per class (evaluated here when the run
    resumed past its last epoch, or exports the best epoch's weights)."""
    spec, hp, progress, out_dir = student.spec, student.hp, student.progress, student.outputs.out_dir
    model = student.optimisation.model
    last = progress.last or {}  # {} only when resumed from a checkpoint of a run with zero epochs
    stopped_at = progress.epochs_done if student.stops_early else None
    if stopped_at is not None:
        log.info("%s: stopped early at epoch %d (no top-1 gain for %d epochs)", spec.student, stopped_at,
                 hp.early_stopping_patience)  # fmt: skip
    if not student.outputs.writes:  # rank 0 exports; the other ranks are done
        return TrainResult("completed", progress.epochs_done, last, progress.best.val_top1,
                           stopped_early_at_epoch=stopped_at)  # fmt: skip
    # 1. The weights to export, and their final evaluation.
    exported_epoch: int | None = progress.epochs_done
    final_eval = progress.last_evaluation
    if hp.export == "best" and progress.best_weights is not None and progress.best.epoch != progress.epochs_done:
        model.load_state_dict(progress.best_weights)
        exported_epoch, final_eval, last = progress.best.epoch, None, progress.best_metrics or last
    final_eval = final_eval or shared.evaluate(model)
    test_eval = shared.evaluate_test(model)  # held_out: the test split's one evaluation, nothing chosen after it
    reported = test_eval or final_eval  # per class, confusion and agreement: on the split the result reports
    test_top1 = test_eval.val_top1 if test_eval is not None else None
    protocol = shared.data.describe_protocol() | {"val_top1": final_eval.val_top1, "test_top1": test_top1}
    agreement = None
    if shared.teacher is not None:  # one more teacher forward over the reported split, the final one only
        agreement = top1_agreement(
            model, shared.teacher, shared.data.report.batches(), shared.device, precision=shared.precision
        )
    # 2. The student as safetensors and the other formats, what it costs to run, then its card.
    student_path, card_path = out_dir / STUDENT_NAME, out_dir / CARD_NAME
    digest = save_student(model, student_path)
    exports = export_student(model, _check_images(shared.data), out_dir)
    onnx = exports.kept.get("onnx")
    cost = student_cost(
        model,
        shared.data.info.image_size,
        onnx_path=onnx.path if onnx is not None else None,
        onnx_missing_reason=exports.refused.get("onnx"),
        device=shared.device,
    )
    card = build_card(
        spec,
        shared.data.info,
        model,
        weights_sha256=digest,
        final=last,
        best=asdict(progress.best),
        teacher=shared.teacher_summary,
        evaluation=reported,
        agreement_top1=agreement,
        training={
            "data": shared.data.describe(),
            "device": shared.device.type,
            "precision": shared.precision,
            "channels_last": shared.channels_last,
            "compiled": student.optimisation.step.compiled is not None,
            "init": student.optimisation.initial_weights,
            "early_stopping": {
                "patience": hp.early_stopping_patience,
                "stopped_at_epoch": stopped_at,
                "best_epoch": progress.best.epoch,
                "best_top1": progress.best.val_top1,
            },
        },
        exported_epoch=exported_epoch,
        exports=exports.card(),
    )
    card["protocol"] = protocol  # which split chose, which one reports, the held-out part's digest
    card["cost"] = cost.card_entry()  # parameters, FLOPs per image, latency measured on this machine
    save_card(card, card_path)
    return TrainResult(
        status="completed",
        epochs_completed=progress.epochs_done,
        final=last,
        best_val_top1=progress.best.val_top1,
        student_path=student_path,
        card_path=card_path,
        exports={fmt: export.path for fmt, export in exports.kept.items()},
        refused_exports=exports.refused,
        checkpoint_path=student.outputs.checkpoint_path,
        card=card,
        per_class=reported.per_class(),
        confusion=reported.confusion_lists(),
        agreement_top1=agreement,
        stopped_early_at_epoch=stopped_at,
        exported_epoch=exported_epoch,
        protocol=protocol,
        test_top1=test_top1,
    )


def _check_images(data: TrainingData) -> torch.Tensor:
    """The first validation images, (b, 3, H, W) with b <= CHECK_IMAGES, that exports are checked on."""
    for images, _labels in data.val.batches():
        return images[:CHECK_IMAGES]
    size = data.info.image_size
    return torch.empty(0, 3, size, size)
