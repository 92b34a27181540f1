"""One student of a group, as the loop carries it from its first epoch (or checkpoint) to its exit.

    Student          its spec, callbacks and outcome, and:
      Optimisation   the model, its SGD and lr schedule, the step that trains it on a batch
      Progress       epochs done, the best epoch (and its weights with ``export: best``), the last
                     epoch's metrics and evaluation, where a stop inside an epoch left it
      Outputs        its folder: ``metrics.jsonl`` and ``checkpoint.pt`` (rank 0 alone writes)

``set_up_student`` builds one from its checkpoint (``read_checkpoints``) or from scratch;
``write_checkpoint`` saves what it carries, as plain dicts and tensors. A checkpoint records the
spec it was trained with, minus what may change between attempts (``RUNTIME_HYPERPARAMETERS``):
a resume under another spec is refused. A sharded dataset is recorded by its index digest
(``sdd_core.data.dataset_identity``), not by the path of this node's copy: a job resumes on a
node whose cache lies elsewhere, and is refused on other data at the same path.
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

from sdd_core.data import dataset_identity
from sdd_core.methods import ResolvedHyperparameters
from sdd_core.models import PooledLinearClassifier
from sdd_core.spec import JobSpec
from sdd_core.trainer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from sdd_core.trainer.distillation_step import LossConfig
from sdd_core.trainer.distributed import sync_batchnorm
from sdd_core.trainer.epoch import EpochProgress, EpochRun, TrainStep
from sdd_core.trainer.evaluation import Evaluation
from sdd_core.trainer.initial_weights import build_student
from sdd_core.trainer.options import EpochMetrics, TrainCallbacks, TrainOptions, TrainResult
from sdd_core.trainer.runtime import rng_state, seed_everything, set_rng_state
from sdd_core.trainer.shared import Shared
from sdd_core.trainer.training_state import BestEpoch, PartialEpoch, stops_early

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.jsonl"

RUNTIME_HYPERPARAMETERS = ("device", "precision", "channels_last", "compile", "loader_workers")
"""What may change between attempts of one job (the machine it runs on), outside its fingerprint."""


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


@dataclass
class Optimisation:
    """The student's model and what trains it: SGD, the multi-step lr schedule, the step."""

    model: PooledLinearClassifier
    initial_weights: dict[str, Any]  # where its weights started (scratch, pretrained, warm start), for the card
    optimizer: SGD
    scheduler: MultiStepLR
    step: TrainStep


@dataclass
class Progress:
    """How far the student got, and what a checkpoint carries of it besides the weights."""

    start_epoch: int = 1  # the first epoch this run trains (after its checkpoint's)
    epochs_done: int = 0
    best: BestEpoch = field(default_factory=BestEpoch)
    best_weights: dict[str, torch.Tensor] | None = None  # with export best: a CPU copy of the best epoch's weights
    best_metrics: EpochMetrics | None = None  # ... and its metrics
    last: EpochMetrics | None = None  # the last finished epoch's metrics
    last_evaluation: Evaluation | None = None  # the last epoch's evaluation, for the card
    partial: PartialEpoch | None = None  # where a stopped run stopped inside an epoch

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Progress:
        """Where the checkpoint ``state`` left the student."""
        start_epoch = int(state["epoch"]) + 1
        return cls(
            start_epoch=start_epoch,
            epochs_done=start_epoch - 1,
            best=BestEpoch.from_state(state["best"]),
            best_weights=state.get("best_model"),
            best_metrics=state.get("best_metrics"),
            last=dict(state["metrics"]) if state.get("metrics") else None,
            partial=PartialEpoch.from_state(state["partial"]) if state.get("partial") is not None else None,
        )

    def end_epoch(self, epoch: int, evaluation: Evaluation) -> bool:
        """Record ``epoch`` as done with its ``evaluation``; True when it is the best so far."""
        val = evaluation.metrics()
        improved = self.best.epoch is None or val["val_top1"] > self.best.val_top1  # a tie keeps the earlier epoch
        if improved:
            self.best = BestEpoch(epoch=epoch, val_top1=val["val_top1"], val_top5=val["val_top5"])
        self.epochs_done, self.last_evaluation = epoch, evaluation
        return improved

    def keep_best(self, model: torch.nn.Module) -> None:
        """Keep a CPU copy of ``model``'s weights and the last metrics as the best epoch's."""
        self.best_metrics = self.last
        self.best_weights = {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}


class MetricsLog:
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


@dataclass
class Outputs:
    """The student's folder; on ranks other than 0 nothing is written (``writes`` False)."""

    out_dir: Path
    writes: bool
    metrics_log: MetricsLog | None
    checkpoint_path: Path

    def record(self, metrics: EpochMetrics) -> None:
        """Append a finished epoch's metrics to ``metrics.jsonl``."""
        if self.metrics_log is not None:
            self.metrics_log.append(metrics)


@dataclass
class Student:
    """One student of the group: its spec, its state (``Optimisation``, ``Progress``, ``Outputs``),
    the epoch it is training and, once it leaves the group, its outcome."""

    spec: JobSpec
    optimisation: Optimisation
    progress: Progress
    outputs: Outputs
    callbacks: TrainCallbacks  # rank 0's are the caller's; see RankGroup.callbacks
    on_done: Callable[[TrainResult | Exception], None] | None = None
    epoch_run: EpochRun | None = None  # the epoch it is training (``begin_epoch``)
    rng: dict[str, Any] = field(default_factory=dict)  # its own global RNG state, between its steps in a group
    outcome: TrainResult | Exception | None = None  # set when it leaves the group

    @property
    def hp(self) -> ResolvedHyperparameters:
        return self.spec.resolved_hyperparameters

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, batches done in it) where this student starts."""
        if self.progress.partial is not None:
            return self.progress.partial.epoch, self.progress.partial.batch
        return self.progress.start_epoch, 0

    @property
    def stops_early(self) -> bool:
        """Whether the epochs since the best one used up ``early_stopping_patience`` before the last epoch."""
        progress, hp = self.progress, self.hp
        return progress.epochs_done < hp.epochs and stops_early(
            progress.best, progress.epochs_done, hp.early_stopping_patience
        )

    def begin_epoch(self, epoch: int, batches: int, report_seconds: float) -> None:
        """A fresh epoch, or a stopped one continued after its last trained batch with the global
        RNGs (the model's dropout) as they were after it."""
        progress, partial = EpochProgress(), self.progress.partial
        self.rng = rng_state()
        if partial is not None and partial.epoch == epoch:
            progress = EpochProgress(batches_done=partial.batch, sums=partial.sums)
            self.rng = partial.rng
            set_rng_state(partial.rng)
        self.progress.partial = None
        self.epoch_run = EpochRun(self.optimisation.step, progress, epoch, self.callbacks, report_seconds)
        self.epoch_run.begin(batches)

    def leave(self, outcome: TrainResult | Exception) -> None:
        """Leave the group with ``outcome`` and tell the caller (``GroupMember.on_done``)."""
        self.outcome = outcome
        if self.on_done is not None:
            try:
                self.on_done(outcome)
            except Exception:  # the caller's bookkeeping must not stop the other students
                log.exception("%s: on_done failed", self.spec.student)


def set_up_student(member: GroupMember, state: dict[str, Any] | None, shared: Shared, options: TrainOptions) -> Student:
    """``member``'s student on the shared device with its optimiser and schedule, where its
    checkpoint ``state`` left it (from scratch without one)."""
    spec, hp, ranks = member.spec, member.spec.resolved_hyperparameters, shared.ranks
    member.out_dir.mkdir(parents=True, exist_ok=True)
    # 1. The model: its initial weights depend on its seed alone.
    seed_everything(spec.seed)
    model, initial_weights = build_student(spec, shared.data.info.num_classes, options.allow_weight_downloads)
    model = model.to(shared.device).to(memory_format=shared.memory_format)
    if ranks is not None and spec.sync_batchnorm:
        sync_batchnorm(model, shared.device)
    # 2. SGD and the lr schedule, then the checkpoint's states of all three.
    optimizer = SGD(model.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay, fused=True)
    scheduler = MultiStepLR(optimizer, milestones=list(hp.lr_decay_epochs), gamma=hp.lr_decay_rate)
    progress = Progress()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        progress = Progress.from_state(state)
        partial = progress.partial
        where = f"batch {partial.batch + 1} of epoch {partial.epoch}" if partial else f"epoch {state['epoch']}"
        log.info("resuming %s at %s", spec.student, where)
    # 3. The step (after the optimiser's state is loaded: it makes the optimiser fused), the outputs.
    step = TrainStep(
        model,
        shared.teacher,
        optimizer,
        config=LossConfig.from_spec(spec),
        device=shared.device,
        precision=shared.precision,
        compiled=shared.compiled,
        batch_size=hp.batch_size,
        targets=shared.targets,
        ranks=ranks,
    )
    writes = ranks is None or ranks.writes  # rank 0 alone writes files and calls back
    metrics_log = MetricsLog(member.out_dir / METRICS_NAME, progress.start_epoch - 1) if writes else None
    return Student(
        spec=spec,
        optimisation=Optimisation(model, initial_weights, optimizer, scheduler, step),
        progress=progress,
        outputs=Outputs(member.out_dir, writes, metrics_log, member.out_dir / CHECKPOINT_NAME),
        callbacks=member.callbacks if ranks is None else ranks.callbacks(member.callbacks, shared.device),
        on_done=member.on_done,
    )


def write_checkpoint(student: Student, shared: Shared, stopped_in: PartialEpoch | None = None) -> None:
    """Everything to continue from here (inside the epoch ``stopped_in``), as plain dicts and
    tensors: the checkpoint is read back with ``weights_only=True``."""
    if not student.outputs.writes:
        return
    optimisation, progress = student.optimisation, student.progress
    payload: dict[str, Any] = {
        "epoch": progress.epochs_done,
        "model": optimisation.model.state_dict(),
        "optimizer": optimisation.optimizer.state_dict(),
        "scheduler": optimisation.scheduler.state_dict(),
        "best": asdict(progress.best),
        "spec": spec_fingerprint(student.spec, shared.data.identity),
        "metrics": progress.last,
        "data_path": shared.data.path,
    }
    if progress.best_weights is not None:
        payload["best_model"], payload["best_metrics"] = progress.best_weights, progress.best_metrics
    if stopped_in is not None:
        payload["partial"] = asdict(stopped_in)
    save_checkpoint(student.outputs.checkpoint_path, payload)


def read_checkpoints(
    members: Sequence[GroupMember], options: TrainOptions | None = None
) -> list[dict[str, Any] | None]:
    """Each member's checkpoint (None to start from scratch); one written for another spec is
    refused. ``options.data_root`` places a relative sharded dataset's index."""
    states: list[dict[str, Any] | None] = []
    data_root = (options or TrainOptions()).data_root
    for member in members:
        state = None
        if member.resume_from is not None:
            state = load_checkpoint(member.resume_from)
            identity = dataset_identity(member.spec.dataset, data_root=data_root)
            if not same_job(state["spec"], spec_fingerprint(member.spec, identity)):
                raise CheckpointError(
                    f"checkpoint {member.resume_from} was written for another job spec; refusing to resume"
                )
        states.append(state)
    return states


def spec_fingerprint(spec: JobSpec, dataset: str | None = None) -> dict[str, Any]:
    """The spec as JSON, minus what may change between attempts (the device it runs on);
    ``dataset`` replaces the spec's dataset name (its ``dataset_identity``)."""
    data = spec.model_dump(mode="json")
    if dataset is not None:
        data["dataset"] = dataset
    data.pop("devices", None)  # how many ranks train it: a resume may take another count
    if data.get("protocol") == "literature":  # as checkpoints written before specs named a protocol
        data.pop("protocol")
        data.pop("holdout_fraction", None)
    for key in RUNTIME_HYPERPARAMETERS:
        data["hyperparameters"].pop(key, None)
    return data


def same_job(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    """A checkpoint's fingerprint against the spec's; hyper-parameters added to the spec after the
    checkpoint was written (absent from it, so at their defaults then) are not compared, nor the
    scales and beta that specs of non-SD methods carried before they were left out."""
    known = stored.get("hyperparameters") or {}
    hyperparameters = {key: value for key, value in current["hyperparameters"].items() if key in known}
    if "scales" not in current:  # not an SD method: the scales and beta of an older spec never shaped it
        stored = {key: value for key, value in stored.items() if key not in ("scales", "beta")}
    return stored == {**current, "hyperparameters": hyperparameters}
