"""What the students of a lockstep group share, set up once: the device and its settings, the data
(on the device when it fits, ``data_path.py``) and the frozen teacher with its evaluation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from sdd_core.spec import JobSpec
from sdd_core.trainer.data_path import DATA_PATHS, TrainingData, prepare_data
from sdd_core.trainer.distillation_step import TeacherTargets
from sdd_core.trainer.distributed import RankGroup
from sdd_core.trainer.evaluation import Evaluation, evaluate_split
from sdd_core.trainer.initial_weights import build_teacher
from sdd_core.trainer.options import TrainOptions
from sdd_core.trainer.runtime import resolve_compile, resolve_device, resolve_precision
from sdd_core.trainer.teacher import FrozenTeacher

log = logging.getLogger(__name__)


@dataclass
class Shared:
    """What a group's students share: the device and its settings, the data, the teacher."""

    device: torch.device
    precision: str
    channels_last: bool
    memory_format: torch.memory_format
    compiled: bool
    data: TrainingData
    teacher: FrozenTeacher | None
    targets: TeacherTargets  # the teacher's side of every student's step, computed once per batch
    teacher_summary: dict[str, Any] | None  # for the model card: arch, weights, val top-1/top-5
    ranks: RankGroup | None = None  # the job's ranks when several processes train it (distributed.py)

    def evaluate(self, model: torch.nn.Module) -> Evaluation:
        """``model`` over the validation split (what every choice reads)."""
        return evaluate_split(
            model, self.data.val.batches(), self.device, num_classes=self.data.info.num_classes,
            precision=self.precision,
        )  # fmt: skip

    def evaluate_test(self, model: torch.nn.Module) -> Evaluation | None:
        """``model`` over the test split (``held_out`` only; None otherwise): once, on the exported weights."""
        if self.data.test is None:
            return None
        return evaluate_split(
            model, self.data.test.batches(), self.device, num_classes=self.data.info.num_classes,
            precision=self.precision,
        )  # fmt: skip


def prepare_shared(spec: JobSpec, states: list[dict[str, Any] | None], options: TrainOptions) -> Shared:
    """Device settings, data (on the device when it fits) and the frozen teacher, once per group;
    ``states`` are the students' checkpoints (a resumed group keeps the data path they record)."""
    hp = spec.resolved_hyperparameters
    # 1. The device, its precision and memory format.
    device = resolve_device(hp.device)
    ranks = RankGroup(options.rank, options.world_size) if options.world_size > 1 else None
    if ranks is not None and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", ranks.rank)  # rank r trains on the node's GPU r
    precision = resolve_precision(hp.precision, device)
    channels_last = hp.channels_last and device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every batch but the last has one shape: pick cuDNN's fastest once
    # 2. The data, on the path a checkpoint recorded when there is one.
    recorded_path = next((state.get("data_path") for state in states if state is not None), None)
    data = prepare_data(
        spec.dataset,
        hp,
        image_size=spec.image_size,
        seed=spec.seed,
        options=options,
        device=device,
        memory_format=memory_format,
        prefer=recorded_path if recorded_path in DATA_PATHS else None,
        protocol=spec.protocol,
        holdout_fraction=spec.holdout_fraction,
    )
    # 3. The frozen teacher, its targets for every student's step, and its own evaluation.
    teacher = None
    if spec.teacher is not None:
        teacher_model, teacher_sha256 = build_teacher(
            spec.teacher, data.info.num_classes, options.allow_weight_downloads
        )
        teacher = FrozenTeacher(teacher_model).to(device).to(memory_format=memory_format)
    compiled = resolve_compile(hp.compile, hp.epochs * len(data.train))
    targets = TeacherTargets(teacher, compiled=compiled, batch_size=hp.batch_size)
    summary = None
    if teacher is not None and spec.teacher is not None:
        evaluation = evaluate_split(
            teacher.model, data.val.batches(), device, num_classes=data.info.num_classes, precision=precision
        )
        summary = {
            "arch": spec.teacher.arch,
            "weights": "pretrained" if spec.teacher.pretrained else "checkpoint",
            "weights_sha256": teacher_sha256,
            "val_top1": evaluation.val_top1,
            "val_top5": evaluation.val_top5,
        }
        if data.test is not None:  # what a student's test top-1 is compared with (nothing is chosen on it)
            tested = evaluate_split(
                teacher.model, data.test.batches(), device, num_classes=data.info.num_classes, precision=precision
            )
            summary |= {"test_top1": tested.val_top1, "test_top5": tested.val_top5}
        log.info("teacher %s: val top-1 %.2f%%", spec.teacher.arch, evaluation.val_top1)
    log.info("training on %s: precision %s, channels_last %s, compiled %s", device, precision, channels_last, compiled)
    return Shared(device, precision, channels_last, memory_format, compiled, data, teacher, targets, summary, ranks)
