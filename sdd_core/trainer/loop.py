"""The training loop, readable top to bottom, for one student or several in lockstep.

    (read the checkpoints) -> choose the data path, build data and the frozen teacher once ->
    each student, its optimiser and schedule -> for each epoch:
        seed(seed, epoch) -> for each batch: the teacher once, then every student's step
        -> per student: read the sums -> lr decay -> evaluate -> metrics, on_epoch_end -> checkpoint
           -> no top-1 gain for ``early_stopping_patience`` epochs: export it now, it leaves
    -> export each student (safetensors; the last epoch's weights, or the best epoch's with
       ``export: best``) and its model card (with the final evaluation per class of those weights)

``train`` is a group of one. Students in a group (``train_group``) draw the same batches (they
agree on the fields ``sdd_core.lockstep`` lists) and each has its own optimiser, schedule,
callbacks, checkpoints and global RNG stream (swapped in around its step, so its dropout draws
what it draws alone): a student trained in a group ends with the weights it ends with alone. A student that is stopped (cancel) or fails leaves the
group; the others go on. So does a student that stops early, exported at once.

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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.optim import SGD
from torch.optim.lr_scheduler import MultiStepLR

from sdd_core.errors import NonFiniteTrainingError
from sdd_core.lockstep import disagreeing_fields, lockstep_values
from sdd_core.spec import JobSpec
from sdd_core.trainer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from sdd_core.trainer.data_path import DATA_PATHS, TrainingData, prepare_data
from sdd_core.trainer.distillation_step import LossConfig, TeacherTargets
from sdd_core.trainer.distributed import RankGroup, sync_batchnorm
from sdd_core.trainer.epoch import EpochProgress, EpochRun, TrainStep
from sdd_core.trainer.evaluation import Evaluation, evaluate_split, top1_agreement
from sdd_core.trainer.export import build_card, save_card, save_student
from sdd_core.trainer.export_formats import CHECK_IMAGES, export_student
from sdd_core.trainer.initial_weights import build_student, build_teacher
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
from sdd_core.trainer.teacher import FrozenTeacher
from sdd_core.trainer.training_state import BestEpoch, PartialEpoch, epoch_metrics, stops_early

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
    data.pop("devices", None)  # how many ranks train it: a resume may take another count
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


def lockstep_key(spec: JobSpec) -> str:
    """Equal for two specs that can train in one group (``sdd_core.lockstep``)."""
    return json.dumps(lockstep_values(spec.model_dump(mode="json")), sort_keys=True)


@dataclass
class GroupMember:
    """One student of a lockstep group: its spec, its output folder, its callbacks, its checkpoint."""

    spec: JobSpec
    out_dir: Path
    callbacks: TrainCallbacks = field(default_factory=TrainCallbacks)
    resume_from: Path | None = None
    on_done: Callable[[TrainResult | Exception], None] | None = None
    """Called as soon as this student leaves the group (completed, stopped or failed), while the
    others may still train: a cancelled job's status need not wait for its group."""


def train(
    spec: JobSpec,
    out_dir: str | Path,
    *,
    options: TrainOptions | None = None,
    callbacks: TrainCallbacks | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train ``spec``'s student, writing checkpoints, metrics, the student and its card to ``out_dir``."""
    member = GroupMember(spec, Path(out_dir), callbacks or TrainCallbacks(), Path(resume_from) if resume_from else None)
    (outcome,) = train_group([member], options=options)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _stopping(active: list[_Run]) -> list[_Run]:
    """The students whose ``should_stop`` asks to stop after the batch every one of them trained.

    Asked once all stepped, and once more of those that said no when another said yes: a stop
    that holds for the whole process (a worker shutting down) then stops every student at the
    same batch, so the group resumes together instead of in parts; a stop of one student (its
    cancel) stops that one only. A student whose ``should_stop`` raises leaves with that error.
    """

    def asks(run: _Run) -> bool:
        assert run.epoch_run is not None
        try:
            return run.epoch_run.wants_stop()
        except Exception as exc:
            run.outcome = exc
            return False

    answers = {id(run): asks(run) for run in active}
    if any(answers.values()):
        for run in active:
            if not answers[id(run)] and run.outcome is None:
                answers[id(run)] = asks(run)
    return [run for run in active if answers[id(run)]]


@dataclass
class _Shared:
    """What a group's students share: the device and its settings, the data, the teacher."""

    device: torch.device
    precision: str
    channels_last: bool
    memory_format: torch.memory_format
    compiled: bool
    data: TrainingData
    teacher: FrozenTeacher | None
    targets: TeacherTargets
    teacher_summary: dict[str, Any] | None
    ranks: RankGroup | None = None  # the job's ranks when several processes train it (distributed.py)


class _Run:
    """One student of a group, from its first epoch (or checkpoint) to its exported weights."""

    def __init__(self, member: GroupMember, state: dict[str, Any] | None, shared: _Shared, options: TrainOptions):
        spec, hp, info = member.spec, member.spec.resolved_hyperparameters, shared.data.info
        self.member, self.spec, self.hp, self.shared, self.options = member, spec, hp, shared, options
        member.out_dir.mkdir(parents=True, exist_ok=True)
        seed_everything(spec.seed)  # the student's initial weights depend on its seed alone
        student, self.init = build_student(spec, info.num_classes, options.allow_weight_downloads)
        self.student = student.to(shared.device).to(memory_format=shared.memory_format)
        ranks = shared.ranks
        if ranks is not None and spec.sync_batchnorm:
            sync_batchnorm(self.student, shared.device)
        self.writes = ranks is None or ranks.writes  # rank 0 alone writes files and calls back
        self.callbacks = member.callbacks if ranks is None else ranks.callbacks(member.callbacks, shared.device)
        self.optimizer = SGD(
            self.student.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay, fused=True
        )
        self.scheduler = MultiStepLR(self.optimizer, milestones=list(hp.lr_decay_epochs), gamma=hp.lr_decay_rate)
        self.config = LossConfig.from_spec(spec)
        self.start_epoch, self.best = 1, BestEpoch()
        self.keeps_best = hp.export == "best"
        # With export best: a CPU copy of the best epoch's weights, and its metrics.
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.best_metrics: EpochMetrics | None = None
        self.last: EpochMetrics | None = None  # the last finished epoch's metrics
        self.partial: PartialEpoch | None = None  # where a stopped run stopped inside an epoch
        self.epochs_done = 0
        if state is not None:
            self.student.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.start_epoch, self.best = int(state["epoch"]) + 1, BestEpoch.from_state(state["best"])
            self.best_weights, self.best_metrics = state.get("best_model"), state.get("best_metrics")
            self.last = dict(state["metrics"]) if state.get("metrics") else None
            self.partial = PartialEpoch.from_state(state["partial"]) if state.get("partial") is not None else None
            where = (
                f"batch {self.partial.batch + 1} of epoch {self.partial.epoch}"
                if self.partial
                else f"epoch {state['epoch']}"
            )
            log.info("resuming %s at %s", spec.student, where)
        self.epochs_done = self.start_epoch - 1
        self.step = TrainStep(
            self.student,
            shared.teacher,
            self.optimizer,
            config=self.config,
            device=shared.device,
            precision=shared.precision,
            compiled=shared.compiled,
            batch_size=hp.batch_size,
            targets=shared.targets,
            ranks=ranks,
        )
        self.metrics_log = (
            _MetricsLog(member.out_dir / METRICS_NAME, keep_through_epoch=self.start_epoch - 1) if self.writes else None
        )
        self.checkpoint_path = member.out_dir / CHECKPOINT_NAME
        self.final_eval: Evaluation | None = None  # the last epoch's evaluation, for the card
        self._outcome: TrainResult | Exception | None = None  # set when the student leaves the group
        self.epoch_run: EpochRun | None = None
        self.rng: dict[str, Any] | None = None  # its own global RNG state, between its steps in a group

    @property
    def outcome(self) -> TrainResult | Exception | None:
        return self._outcome

    @outcome.setter
    def outcome(self, value: TrainResult | Exception) -> None:
        self._outcome = value
        if self.member.on_done is not None:
            try:
                self.member.on_done(value)
            except Exception:  # the caller's bookkeeping must not stop the other students
                log.exception("%s: on_done failed", self.spec.student)

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, batches done in it) where this student starts."""
        if self.partial is not None:
            return self.partial.epoch, self.partial.batch
        return self.start_epoch, 0

    def evaluate(self, model: torch.nn.Module) -> Evaluation:
        data = self.shared.data
        return evaluate_split(
            model, data.val.batches(), self.shared.device, num_classes=data.info.num_classes,
            precision=self.shared.precision,
        )  # fmt: skip

    def checkpoint(self, epochs_done: int, stopped_in: PartialEpoch | None = None) -> None:
        """Plain dicts and tensors only: the checkpoint is read back with ``weights_only=True``."""
        if not self.writes:
            return
        payload: dict[str, Any] = {
            "epoch": epochs_done,
            "model": self.student.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best": asdict(self.best),
            "spec": _spec_fingerprint(self.spec),
            "metrics": self.last,
            "data_path": self.shared.data.path,
        }
        if self.best_weights is not None:
            payload["best_model"], payload["best_metrics"] = self.best_weights, self.best_metrics
        if stopped_in is not None:
            payload["partial"] = asdict(stopped_in)
        save_checkpoint(self.checkpoint_path, payload)

    def begin_epoch(self, epoch: int, batches: int) -> None:
        """A fresh epoch, or a stopped one continued after its last trained batch with the global
        RNGs (the model's dropout) as they were after it."""
        progress = EpochProgress()
        self.rng = rng_state()
        if self.partial is not None and self.partial.epoch == epoch:
            progress = EpochProgress(batches_done=self.partial.batch, sums=self.partial.sums)
            self.rng = self.partial.rng
            set_rng_state(self.partial.rng)
        self.partial = None
        self.lr = self.optimizer.param_groups[0]["lr"]
        self.epoch_run = EpochRun(self.step, progress, epoch, self.callbacks, self.options.report_seconds)
        self.epoch_run.begin(batches)

    def stop(self, epoch: int, rng: dict[str, Any]) -> None:
        """Stopped inside ``epoch``: checkpoint there (the next run continues after this batch), leave."""
        assert self.epoch_run is not None
        progress = self.epoch_run.progress
        sums = progress.finish()
        self.checkpoint(epoch - 1, PartialEpoch(epoch=epoch, batch=progress.batches_done, sums=sums, rng=rng))
        stop = StopPoint(epoch=epoch, batch=progress.batches_done, batches=progress.batches)
        log.info("%s: stopped at batch %d/%d of epoch %d; checkpoint written", self.spec.student, stop.batch,
                 stop.batches, epoch)  # fmt: skip
        self.outcome = TrainResult(
            status="stopped",
            epochs_completed=epoch - 1,
            final=self.last,
            best_val_top1=self.best.val_top1,
            checkpoint_path=self.checkpoint_path,
            stopped_at=stop,
        )

    def end_epoch(self, epoch: int) -> None:
        """Read the sums, refuse a mostly non-finite epoch, decay the lr, evaluate, record, checkpoint."""
        assert self.epoch_run is not None
        sums, hp, callbacks = self.epoch_run.progress.finish(), self.hp, self.callbacks
        if sums.nonfinite:
            log.warning("epoch %d: %d of %d steps gave a non-finite loss and were skipped", epoch, sums.nonfinite,
                        sums.steps)  # fmt: skip
        if sums.nonfinite > self.options.max_nonfinite_fraction * sums.steps:
            raise NonFiniteTrainingError(
                f"epoch {epoch}: {sums.nonfinite} of {sums.steps} steps gave a non-finite loss; "
                "lower the learning rate or the distillation weight"
            )
        self.scheduler.step()
        self.final_eval = self.evaluate(self.student)
        val = self.final_eval.metrics()
        improved = self.best.epoch is None or val["val_top1"] > self.best.val_top1  # a tie keeps the earlier epoch
        if improved:
            self.best = BestEpoch(epoch=epoch, val_top1=val["val_top1"], val_top5=val["val_top5"])
        self.epochs_done = epoch
        self.last = epoch_metrics(
            epoch=epoch,
            epochs=hp.epochs,
            lr=self.lr,
            sums=sums,
            val=val,
            best=self.best,
            scale_decoupled=self.config.scale_decoupled,
            data_path=self.shared.data.path,
        )
        if improved and self.keeps_best and self.writes:
            self.best_metrics = self.last
            self.best_weights = {
                name: tensor.detach().to("cpu", copy=True) for name, tensor in self.student.state_dict().items()
            }
        # Metrics before the checkpoint: a run resumed from this checkpoint skips the epoch, so
        # its metrics must already be recorded (a replayed epoch's are recorded once by callers).
        if self.metrics_log is not None:
            self.metrics_log.append(self.last)
        log.info("%s epoch %d/%d: loss %.4f val top-1 %.2f%%", self.spec.student, epoch, hp.epochs,
                 self.last["train_loss"], val["val_top1"])  # fmt: skip
        if callbacks.on_epoch_end:
            callbacks.on_epoch_end(self.last)
        self.checkpoint(epoch)
        if callbacks.on_checkpoint:
            callbacks.on_checkpoint(epoch, self.checkpoint_path)

    @property
    def stopped_early(self) -> bool:
        """Whether the epochs since the best one used up ``early_stopping_patience`` before the last epoch."""
        return self.epochs_done < self.hp.epochs and stops_early(
            self.best, self.epochs_done, self.hp.early_stopping_patience
        )

    def export(self) -> None:
        """The student and its card, with the final evaluation per class (evaluated here when the
        run resumed past its last epoch)."""
        shared, out_dir = self.shared, self.member.out_dir
        last = self.last or {}  # {} only when resumed from a checkpoint of a run with zero epochs
        stopped_at = self.epochs_done if self.stopped_early else None
        if stopped_at is not None:
            log.info("%s: stopped early at epoch %d (no top-1 gain for %d epochs)", self.spec.student, stopped_at,
                     self.hp.early_stopping_patience)  # fmt: skip
        if not self.writes:  # rank 0 exports; the other ranks are done
            self.outcome = TrainResult("completed", self.epochs_done, last, self.best.val_top1,
                                       stopped_early_at_epoch=stopped_at)  # fmt: skip
            return
        exported_epoch: int | None = self.epochs_done
        if self.keeps_best and self.best_weights is not None and self.best.epoch != self.epochs_done:
            self.student.load_state_dict(self.best_weights)
            exported_epoch, self.final_eval, last = self.best.epoch, None, self.best_metrics or last
        final_eval = self.final_eval or self.evaluate(self.student)
        agreement = None
        if shared.teacher is not None:  # one more teacher forward over the val split, the final one only
            agreement = top1_agreement(
                self.student, shared.teacher, shared.data.val.batches(), shared.device, precision=shared.precision
            )
        student_path, card_path = out_dir / STUDENT_NAME, out_dir / CARD_NAME
        digest = save_student(self.student, student_path)
        exports = export_student(self.student, _check_images(shared.data), out_dir)
        card = build_card(
            self.spec,
            shared.data.info,
            self.student,
            weights_sha256=digest,
            final=last,
            best=asdict(self.best),
            teacher=shared.teacher_summary,
            evaluation=final_eval,
            agreement_top1=agreement,
            training={
                "data": shared.data.describe(),
                "device": shared.device.type,
                "precision": shared.precision,
                "channels_last": shared.channels_last,
                "compiled": self.step.compiled is not None,
                "init": self.init,
                "early_stopping": {
                    "patience": self.hp.early_stopping_patience,
                    "stopped_at_epoch": stopped_at,
                    "best_epoch": self.best.epoch,
                    "best_top1": self.best.val_top1,
                },
            },
            exported_epoch=exported_epoch,
            exports=exports.card(),
        )
        save_card(card, card_path)
        self.outcome = TrainResult(
            status="completed",
            epochs_completed=self.epochs_done,
            final=last,
            best_val_top1=self.best.val_top1,
            student_path=student_path,
            card_path=card_path,
            exports={fmt: export.path for fmt, export in exports.kept.items()},
            refused_exports=exports.refused,
            checkpoint_path=self.checkpoint_path,
            card=card,
            per_class=final_eval.per_class(),
            confusion=final_eval.confusion_lists(),
            agreement_top1=agreement,
            stopped_early_at_epoch=stopped_at,
            exported_epoch=exported_epoch,
        )


def _check_images(data: TrainingData) -> torch.Tensor:
    """The first validation images, (b, 3, H, W) with b <= CHECK_IMAGES, that exports are checked on."""
    for images, _labels in data.val.batches():
        return images[:CHECK_IMAGES]
    size = data.info.image_size
    return torch.empty(0, 3, size, size)


def _load_states(members: Sequence[GroupMember]) -> list[dict[str, Any] | None]:
    states: list[dict[str, Any] | None] = []
    for member in members:
        state = None
        if member.resume_from is not None:
            state = load_checkpoint(member.resume_from)
            if not _same_job(state["spec"], _spec_fingerprint(member.spec)):
                raise CheckpointError(
                    f"checkpoint {member.resume_from} was written for another job spec; refusing to resume"
                )
        states.append(state)
    return states


def _share(spec: JobSpec, states: list[dict[str, Any] | None], options: TrainOptions) -> _Shared:
    """Device settings, data (on the device when it fits) and the frozen teacher, once per group."""
    hp = spec.resolved_hyperparameters
    device = resolve_device(hp.device)
    ranks = RankGroup(options.rank, options.world_size) if options.world_size > 1 else None
    if ranks is not None and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", ranks.rank)  # rank r trains on the node's GPU r
    precision = resolve_precision(hp.precision, device)
    channels_last = hp.channels_last and device.type == "cuda"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # every batch but the last has one shape: pick cuDNN's fastest once
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
    )
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
        log.info("teacher %s: val top-1 %.2f%%", spec.teacher.arch, evaluation.val_top1)
    log.info("training on %s: precision %s, channels_last %s, compiled %s", device, precision, channels_last, compiled)
    return _Shared(device, precision, channels_last, memory_format, compiled, data, teacher, targets, summary, ranks)


def train_group(
    members: Sequence[GroupMember], *, options: TrainOptions | None = None
) -> list[TrainResult | Exception]:
    """Train every member's student in lockstep: one teacher forward per batch for all of them.

    Returns, per member in order, its ``TrainResult`` (completed, or stopped by its own
    ``should_stop``) or the exception that made it leave the group (the others went on). Members
    must agree on ``lockstep_key`` and start at the same point (epoch and batch); ``ValueError``
    otherwise, before anything is trained.
    """
    options = options or TrainOptions()
    if not members:
        return []
    differ = disagreeing_fields([member.spec.model_dump(mode="json") for member in members])
    if differ:
        raise ValueError(f"these specs draw different batches ({', '.join(differ)} differ, see sdd_core.lockstep); "
                         "train them in separate groups")  # fmt: skip
    if options.world_size > 1 and len(members) > 1:
        raise ValueError(f"a group of {len(members)} students cannot train on {options.world_size} ranks; "
                         "train jobs with devices > 1 alone")  # fmt: skip
    states = _load_states(members)

    # 1. What the group shares, then each student with its optimiser and schedule.
    spec = members[0].spec
    shared = _share(spec, states, options)
    try:
        return _train_shared(members, states, shared, options)
    finally:
        shared.data.close()  # the loader's worker processes end with the run


def _train_shared(
    members: Sequence[GroupMember], states: list[dict[str, Any] | None], shared: _Shared, options: TrainOptions
) -> list[TrainResult | Exception]:
    spec = members[0].spec
    runs = [_Run(member, state, shared, options) for member, state in zip(members, states, strict=True)]
    if len({run.position for run in runs}) > 1:
        raise ValueError(f"the members start at different points {[run.position for run in runs]}; "
                         "a group trains from one epoch and batch")  # fmt: skip
    start_epoch = runs[0].position[0]
    epochs, data = spec.resolved_hyperparameters.epochs, shared.data
    for run in runs:  # resumed from the checkpoint of the epoch that stopped it early
        if run.partial is None and run.stopped_early:
            _export(run)

    # 2. Epochs: every batch drawn once, the teacher run once on it, then each student's step.
    for epoch in range(start_epoch, epochs + 1):
        active = [run for run in runs if run.outcome is None]
        if not active:
            break
        seed = epoch_seed(spec.seed, epoch)
        seed_everything(seed)
        for run in active:
            run.begin_epoch(epoch, len(data.train))
        swap = len(active) > 1  # alone, a student keeps the global RNGs as they are
        skip = active[0].epoch_run.progress.batches_done if active[0].epoch_run else 0
        for images, labels in data.train.batches(data_seed(seed), skip=skip):
            for run in list(active):
                assert run.epoch_run is not None and run.rng is not None
                try:
                    if swap:
                        set_rng_state(run.rng)
                    run.epoch_run.train_batch(images, labels)
                    run.rng = rng_state() if swap else run.rng
                except Exception as exc:  # this student leaves; the others go on
                    run.outcome = exc
                    active.remove(run)
            for run in _stopping(active):
                try:
                    assert run.rng is not None
                    run.stop(epoch, run.rng if swap else rng_state())
                except Exception as exc:
                    run.outcome = exc
            active = [run for run in active if run.outcome is None]
            if not active:
                break
        for run in active:
            try:
                run.end_epoch(epoch)
            except Exception as exc:
                run.outcome = exc
                continue
            if run.stopped_early:
                _export(run)

    # 3. Export every student that trained to the end.
    for run in runs:
        if run.outcome is None:
            _export(run)
    return [run.outcome for run in runs if run.outcome is not None]


def _export(run: _Run) -> None:
    """Export ``run``'s student; it leaves the group with its result, or the error exporting raised."""
    try:
        run.export()
    except Exception as exc:
        run.outcome = exc
