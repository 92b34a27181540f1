"""The training loop, readable top to bottom.

    (read the checkpoint) -> choose the data path, build data, student, frozen teacher -> for each epoch:
        seed(seed, epoch) -> train steps -> read the sums -> lr decay -> evaluate -> metrics,
        on_epoch_end -> checkpoint
    -> export the student (safetensors) and its model card (with the final evaluation per class)

Every epoch's randomness (shuffling, augmentation) derives from (seed, epoch), and checkpoints
carry optimiser and scheduler states, so resuming from epoch e reproduces the uninterrupted run's
weights on CPU, on either data path (``data_path.py``; a resumed run keeps its checkpoint's path
when it can). A run stopped by ``should_stop`` checkpoints inside the epoch (batches done, running
sums, RNG states; see ``epoch.py``), and resuming from that continues with the next batch.

The loop trusts the spec it is given: callers refuse an impossible job first, with
``check_compatibility`` (``sdd train`` does) or the job service's own validation.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.optim import SGD
from torch.optim.lr_scheduler import MultiStepLR

from sdd_core.errors import NonFiniteTrainingError
from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from sdd_core.trainer.data_path import DATA_PATHS, prepare_data
from sdd_core.trainer.distillation_step import LossConfig
from sdd_core.trainer.epoch import EpochProgress, TrainStep, train_epoch
from sdd_core.trainer.evaluation import Evaluation, evaluate_split
from sdd_core.trainer.export import build_card, save_card, save_student, sha256_file
from sdd_core.trainer.options import EpochMetrics, StopPoint, TrainCallbacks, TrainOptions, TrainResult
from sdd_core.trainer.runtime import (
    data_seed,
    epoch_seed,
    resolve_compile,
    resolve_device,
    resolve_precision,
    rng_state,
    seed_everything,
    set_rng_state,
)
from sdd_core.trainer.teacher import FrozenTeacher, load_teacher
from sdd_core.trainer.training_state import BestEpoch, PartialEpoch, epoch_metrics

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
STUDENT_NAME = "student.safetensors"
CARD_NAME = "card.json"
METRICS_NAME = "metrics.jsonl"


RUNTIME_HYPERPARAMETERS = ("device", "precision", "channels_last", "compile", "loader_workers")
"""What may change between attempts of one job (the machine it runs on), outside its fingerprint."""


def _spec_fingerprint(spec: JobSpec) -> dict[str, Any]:
    """The spec as JSON, minus what may change between attempts (the device it runs on)."""
    data = spec.model_dump(mode="json")
    for key in RUNTIME_HYPERPARAMETERS:
        data["hyperparameters"].pop(key, None)
    return data


def _same_job(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    """A checkpoint's fingerprint against the spec's; hyper-parameters added to the spec after the
    checkpoint was written (absent from it, so at their defaults then) are not compared."""
    known = stored.get("hyperparameters") or {}
    hyperparameters = {key: value for key, value in current["hyperparameters"].items() if key in known}
    return stored == {**current, "hyperparameters": hyperparameters}


class _MetricsLog:
    """``metrics.jsonl``: one JSON line per finished epoch; on resume, later lines are dropped."""

    def __init__(self, path: Path, keep_through_epoch: int) -> None:
        self.path = path
        kept = []
        if path.exists():
            kept = [
                line
                for line in path.read_text().splitlines()
                if line.strip() and json.loads(line)["epoch"] <= keep_through_epoch
            ]
        path.write_text("".join(line + "\n" for line in kept))

    def append(self, metrics: EpochMetrics) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(metrics) + "\n")


def train(
    spec: JobSpec,
    out_dir: str | Path,
    *,
    options: TrainOptions | None = None,
    callbacks: TrainCallbacks | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train ``spec``'s student, writing checkpoints, metrics, the student and its card to ``out_dir``."""
    options, callbacks, out_dir = options or TrainOptions(), callbacks or TrainCallbacks(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    hp = spec.resolved_hyperparameters
    device = resolve_device(hp.device)
    precision = resolve_precision(hp.precision, device)
    channels_last = hp.channels_last and device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    state = None
    if resume_from is not None:
        state = load_checkpoint(Path(resume_from))
        if not _same_job(state["spec"], _spec_fingerprint(spec)):
            raise CheckpointError(f"checkpoint {resume_from} was written for another job spec; refusing to resume")

    # 1. Data (on the device when it fits), models, optimiser.
    recorded_path = state.get("data_path") if state is not None else None
    data = prepare_data(
        spec.dataset,
        hp,
        image_size=spec.image_size,
        seed=spec.seed,
        options=options,
        device=device,
        memory_format=memory_format,
        prefer=recorded_path if recorded_path in DATA_PATHS else None,
    )
    info = data.info
    seed_everything(spec.seed)
    student = create_model(spec.student, info.num_classes).to(device).to(memory_format=memory_format)
    teacher = None
    if spec.teacher is not None:
        teacher_model = load_teacher(spec.teacher.arch, spec.teacher.checkpoint, info.num_classes)
        teacher = FrozenTeacher(teacher_model).to(device).to(memory_format=memory_format)
    optimizer = SGD(student.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay, fused=True)
    scheduler = MultiStepLR(optimizer, milestones=list(hp.lr_decay_epochs), gamma=hp.lr_decay_rate)
    config = LossConfig.from_spec(spec)

    # 2. Resume: from the end of an epoch, or from inside one (``partial``: stopped mid-epoch).
    start_epoch, best = 1, BestEpoch()
    last: EpochMetrics | None = None  # the last finished epoch's metrics
    partial: PartialEpoch | None = None  # where a stopped run stopped inside an epoch
    if state is not None:
        student.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, best = int(state["epoch"]) + 1, BestEpoch.from_state(state["best"])
        last = dict(state["metrics"]) if state.get("metrics") else None
        partial = PartialEpoch.from_state(state["partial"]) if state.get("partial") is not None else None
        if partial is not None:
            log.info("resuming %s at batch %d of epoch %d", spec.student, partial.batch + 1, partial.epoch)
        else:
            log.info("resuming %s from epoch %d", spec.student, state["epoch"])
    compiled = resolve_compile(hp.compile, hp.epochs * len(data.train))
    step = TrainStep(
        student,
        teacher,
        optimizer,
        config=config,
        device=device,
        precision=precision,
        compiled=compiled,
        batch_size=hp.batch_size,
    )
    log.info("training on %s: precision %s, channels_last %s, compiled %s", device, precision, channels_last, compiled)
    metrics_log = _MetricsLog(out_dir / METRICS_NAME, keep_through_epoch=start_epoch - 1)

    def evaluate_on_val(model: torch.nn.Module) -> Evaluation:
        return evaluate_split(model, data.val.batches(), device, num_classes=info.num_classes, precision=precision)

    teacher_summary = None
    if teacher is not None and spec.teacher is not None:
        teacher_eval = evaluate_on_val(teacher.model)
        teacher_summary = {
            "arch": spec.teacher.arch,
            "weights_sha256": sha256_file(Path(spec.teacher.checkpoint)),
            "val_top1": teacher_eval.val_top1,
            "val_top5": teacher_eval.val_top5,
        }
        log.info("teacher %s: val top-1 %.2f%%", spec.teacher.arch, teacher_eval.val_top1)

    # 3. Epochs.
    checkpoint_path = out_dir / CHECKPOINT_NAME
    final_eval: Evaluation | None = None  # the last epoch's evaluation, for the card

    def checkpoint(epochs_done: int, stopped_in: PartialEpoch | None = None) -> None:
        """Plain dicts and tensors only: the checkpoint is read back with ``weights_only=True``."""
        payload: dict[str, Any] = {
            "epoch": epochs_done,
            "model": student.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "best": asdict(best),
            "spec": _spec_fingerprint(spec),
            "metrics": last,
            "data_path": data.path,
        }
        if stopped_in is not None:
            payload["partial"] = asdict(stopped_in)
        save_checkpoint(checkpoint_path, payload)

    for epoch in range(start_epoch, hp.epochs + 1):
        # 3a. Seed the epoch; a stopped epoch continues after its last trained batch, with the
        # global RNGs (the model's dropout) as they were after it.
        seed = epoch_seed(spec.seed, epoch)
        seed_everything(seed)
        progress = EpochProgress()
        if partial is not None and partial.epoch == epoch:
            progress = EpochProgress(batches_done=partial.batch, sums=partial.sums)
            set_rng_state(partial.rng)
        partial = None

        # 3b. Train, then read the epoch's sums (the one wait for the device); a stop inside the
        # epoch checkpoints it there (the next run continues after this batch) and returns.
        lr = optimizer.param_groups[0]["lr"]
        finished = train_epoch(
            step,
            data.train,
            seed=data_seed(seed),
            epoch=epoch,
            callbacks=callbacks,
            progress=progress,
            report_seconds=options.report_seconds,
        )
        sums = progress.finish()
        if not finished:
            checkpoint(epoch - 1, PartialEpoch(epoch=epoch, batch=progress.batches_done, sums=sums, rng=rng_state()))
            stop = StopPoint(epoch=epoch, batch=progress.batches_done, batches=progress.batches)
            log.info("stopped at batch %d/%d of epoch %d; checkpoint written", stop.batch, stop.batches, epoch)
            return TrainResult(
                status="stopped",
                epochs_completed=epoch - 1,
                final=last,
                best_val_top1=best.val_top1,
                checkpoint_path=checkpoint_path,
                stopped_at=stop,
            )

        # 3c. Refuse an epoch of mostly non-finite losses; decay the lr; evaluate.
        if sums.nonfinite:
            log.warning(
                "epoch %d: %d of %d steps gave a non-finite loss and were skipped", epoch, sums.nonfinite, sums.steps
            )
        if sums.nonfinite > options.max_nonfinite_fraction * sums.steps:
            raise NonFiniteTrainingError(
                f"epoch {epoch}: {sums.nonfinite} of {sums.steps} steps gave a non-finite loss; "
                "lower the learning rate or the distillation weight"
            )
        scheduler.step()
        final_eval = evaluate_on_val(student)
        val = final_eval.metrics()
        if best.epoch is None or val["val_top1"] > best.val_top1:
            best = BestEpoch(epoch=epoch, val_top1=val["val_top1"], val_top5=val["val_top5"])
        last = epoch_metrics(
            epoch=epoch,
            epochs=hp.epochs,
            lr=lr,
            sums=sums,
            val=val,
            best=best,
            scale_decoupled=config.scale_decoupled,
            data_path=data.path,
        )

        # 3d. Metrics before the checkpoint: a run resumed from this checkpoint skips the epoch, so
        # its metrics must already be recorded (a replayed epoch's are recorded once by callers).
        metrics_log.append(last)
        log.info("epoch %d/%d: loss %.4f val top-1 %.2f%%", epoch, hp.epochs, last["train_loss"], val["val_top1"])
        if callbacks.on_epoch_end:
            callbacks.on_epoch_end(last)
        checkpoint(epoch)
        if callbacks.on_checkpoint:
            callbacks.on_checkpoint(epoch, checkpoint_path)

    # 4. Export, with the final evaluation per class (evaluated here when the run resumed past it).
    last = last or {}  # {} only when resumed from a checkpoint of a run with zero epochs
    final_eval = final_eval or evaluate_on_val(student)
    student_path, card_path = out_dir / STUDENT_NAME, out_dir / CARD_NAME
    digest = save_student(student, student_path)
    card = build_card(
        spec,
        info,
        student,
        weights_sha256=digest,
        final=last,
        best=asdict(best),
        teacher=teacher_summary,
        evaluation=final_eval,
        training={
            "data": data.describe(),
            "device": device.type,
            "precision": precision,
            "channels_last": channels_last,
            "compiled": step.compiled is not None,
        },
    )
    save_card(card, card_path)
    return TrainResult(
        status="completed",
        epochs_completed=hp.epochs,
        final=last,
        best_val_top1=best.val_top1,
        student_path=student_path,
        card_path=card_path,
        checkpoint_path=checkpoint_path,
        card=card,
        per_class=final_eval.per_class(),
        confusion=final_eval.confusion_lists(),
    )
