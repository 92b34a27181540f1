"""One training epoch, which can stop after any batch and later continue exactly where it stopped,
and never waits for the device inside it.

    for each batch of the epoch (after the ones already trained):
        step: teacher targets -> student loss -> backward -> SGD (skipped on a non-finite loss)
        add the step's loss parts to the running sums, on the device
        report (at most once per ``report_seconds``: the only read of the device), maybe stop

An epoch's batches, shuffle and augmentation derive from its data seed alone (see
``sdd_core.data.tensor_batches`` and ``loader_batches``), so a stopped epoch is continued by
drawing the same epoch again and skipping the batches already trained; the loop restores the
global RNGs (the model's dropout) saved at the stop. Its running sums are carried by the
checkpoint and continue from the same float64 values, so the epoch's metrics are those of an
uninterrupted run too.

On CUDA nothing in a step reads the device: the running sums are one float64 tensor, and a
non-finite loss is not tested on the host but handed to the fused SGD as ``found_inf`` (as
``GradScaler`` does), which then leaves weights and momentum untouched; the step is counted in
the sums. The sums are read at report points and once at the end of the epoch (``finish``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from sdd_core.models import PooledLinearClassifier
from sdd_core.trainer.data_path import BatchSource
from sdd_core.trainer.distillation_step import (
    LossConfig,
    TeacherTargets,
    loss_parts,
    step_statistics,
    student_loss,
    weighted_loss,
)
from sdd_core.trainer.distributed import RankGroup
from sdd_core.trainer.options import TrainCallbacks
from sdd_core.trainer.runtime import autocast
from sdd_core.trainer.teacher import FrozenTeacher
from sdd_core.trainer.training_state import EpochSums

log = logging.getLogger(__name__)

STAT_NAMES = ("loss", "ce", "kd", "complementary", "correct")
"""What a step returns (``TrainStep``), in this order, as one (5,) float32 tensor."""


def fused_sgd(optimizer: torch.optim.SGD) -> torch.optim.SGD:
    """Make ``optimizer`` (a new one, or one just loaded from a checkpoint) take the fused path,
    the one that honours ``found_inf``, with every momentum buffer present.

    Fused SGD creates missing buffers uninitialised on the first step and fills them only if
    the step is applied, so a skipped first step would leave garbage behind; zero buffers give
    the first step's ``buf = grad`` exactly (0 * momentum + grad).
    """
    for group in optimizer.param_groups:
        group["fused"], group["foreach"] = True, None
        if group["momentum"] != 0:
            for param in group["params"]:
                state = optimizer.state[param]
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    return optimizer


class TrainStep:
    """One optimisation step on a batch: returns the step's (5,) statistics (``STAT_NAMES``) and
    whether its loss was finite, both as device tensors, and reads nothing back.

    The teacher's side comes from ``targets`` (``TeacherTargets``): shared by the students of a
    lockstep group, so the teacher runs once per batch for all of them; made from ``teacher`` for
    a student trained alone. With ``compiled``, full batches run the teacher forward and the
    student's loss parts through ``torch.compile`` (a graph each, compiled on the first batch); a
    smaller last batch runs eagerly, so no second shape is ever compiled. The epoch's warm-up
    weight is applied outside the compiled graph, which therefore serves every epoch.
    """

    def __init__(
        self,
        student: PooledLinearClassifier,
        teacher: FrozenTeacher | None,
        optimizer: torch.optim.SGD,
        *,
        config: LossConfig,
        device: torch.device,
        precision: str,
        compiled: bool = False,
        batch_size: int = 0,
        targets: TeacherTargets | None = None,
        ranks: RankGroup | None = None,
    ) -> None:
        self.student, self.teacher, self.optimizer = student, teacher, fused_sgd(optimizer)
        self.config, self.device, self.precision = config, device, precision
        self.batch_size = batch_size
        self.targets = targets or TeacherTargets(teacher, compiled=compiled, batch_size=batch_size)
        # With ranks the student's loss parts run under DDP, eagerly (no torch.compile).
        self.ranks = ranks
        self.ddp = ranks.wrap(student, config, device) if ranks is not None else None
        self.compiled: Callable[..., Any] | None = (
            torch.compile(self.student_parts, dynamic=False) if compiled and ranks is None else None
        )

    def forward_parts(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(ce, kd, statistics (4,)) of the batch, eagerly: the teacher's targets, then the student's."""
        with autocast(self.device, self.precision):
            targets = self.targets.get(images, self.config)
        return self.student_parts(images, labels, targets)

    def student_parts(
        self, images: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, ...]:
        """(ce, kd, statistics (4,)) given the teacher's targets: the part ``torch.compile`` compiles."""
        with autocast(self.device, self.precision):
            parts = loss_parts(self.student, images, labels, targets, config=self.config)
        return parts["ce"], parts["kd"], step_statistics(parts, labels)

    def _compiled_forward(
        self, images: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, ...] | None:
        """The compiled forward's outputs for a full batch; None to run the step eagerly."""
        if self.compiled is None or labels.shape[0] != self.batch_size:
            return None
        try:
            return self.compiled(images, labels, targets)
        except torch._dynamo.exc.TorchDynamoException as exc:  # no compiler, an unsupported op: train on
            log.warning("torch.compile failed (%s); this run continues without compiling", exc)
            self.compiled = None
            return None

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        # 1. Forward: teacher targets (once per batch for a whole group), then the student's loss.
        with autocast(self.device, self.precision):
            targets = self.targets.get(images, self.config)
        forward = self._compiled_forward(images, labels, targets)
        if self.ddp is not None:
            with autocast(self.device, self.precision):
                parts = self.ddp(images, labels, targets)
            forward = parts["ce"], parts["kd"], step_statistics(parts, labels)
        if forward is not None:
            ce, kd, statistics = forward
            if targets is None:
                loss = self.config.ce_weight * ce
            else:
                loss = weighted_loss(ce, kd, config=self.config, epoch=epoch)
        else:
            with autocast(self.device, self.precision):
                out = student_loss(self.student, images, labels, targets, config=self.config, epoch=epoch)
            loss, statistics = out["loss"], step_statistics(out, labels)
        # 2. Backward and update; a non-finite loss makes the fused SGD skip the update.
        finite = torch.isfinite(loss)  # () bool, on the device
        if self.ranks is not None:  # every rank skips the step when one rank's loss is not finite
            finite = self.ranks.all_finite(finite)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.found_inf = (~finite).float()  # type: ignore[attr-defined]  # read by SGD.step
        self.optimizer.step()
        return torch.cat([loss.detach().float().view(1), statistics]), finite  # (5,), ()


class RunningSums:
    """An epoch's running sums on the device: loss, ce, kd, complementary, correct (finite steps
    only) and the non-finite count, as one float64 tensor (6,); steps and images on the host.

    It starts from ``EpochSums`` (zeros, or a stopped epoch's) and adds each step in float64, in
    the order the host sum of ``.item()`` values added them, so the values are the same.

    With ``ranks``, each rank adds its own slices and ``read`` combines what the ranks added
    since ``start`` (``RankGroup.combine_sums``): every rank reads the global batches' sums.
    """

    def __init__(self, start: EpochSums, device: torch.device, ranks: RankGroup | None = None) -> None:
        values = [start.loss, start.ce, start.kd, start.complementary, float(start.correct), float(start.nonfinite)]
        self.values = torch.tensor(values, dtype=torch.float64).to(device, non_blocking=True)  # (6,)
        self.steps, self.images = start.steps, start.images
        self.ranks, self.start, self.start_images = ranks, self.values.clone(), start.images

    def add(self, statistics: torch.Tensor, finite: torch.Tensor, images: int) -> None:
        kept = torch.where(finite, statistics, 0.0)  # (5,): a non-finite step adds nothing
        self.values += torch.cat([kept, (~finite).float().view(1)]).double()  # (6,)
        self.steps += 1
        self.images += images

    def read(self, seconds: float) -> EpochSums:
        """The sums as host numbers (one read of the device)."""
        if self.ranks is not None:
            added = self.values - self.start  # (6,)
            images = added.new_tensor([float(self.images - self.start_images)])  # (1,)
            total = self.ranks.combine_sums(torch.cat([added, images]))  # (7,)
            self.values, self.start = self.start + total[:6], self.start + total[:6]
            self.images = self.start_images = self.start_images + int(total[6].item())
        loss, ce, kd, complementary, correct, nonfinite = self.values.tolist()
        return EpochSums(
            loss=loss,
            ce=ce,
            kd=kd,
            correct=int(correct),
            images=self.images,
            steps=self.steps,
            nonfinite=int(nonfinite),
            complementary=complementary,
            seconds=seconds,
        )


@dataclass
class EpochProgress:
    """How far an epoch got: batches trained and the running sums its metrics are made of.

    ``sums`` is where the epoch started (zeros, or a stopped epoch's sums) until ``finish``
    reads the device's running sums into it.
    """

    batches_done: int = 0
    batches: int = 0  # batches per epoch, known once the epoch's batches are drawn
    sums: EpochSums = field(default_factory=EpochSums)
    running: RunningSums | None = None
    started: float = 0.0

    def finish(self) -> EpochSums:
        """Read the running sums (waiting for the device) and the seconds spent so far."""
        if self.running is not None:
            self.sums = self.running.read(seconds=time.perf_counter() - self.started)
        return self.sums


@dataclass
class EpochRun:
    """One student's pass over one epoch, a batch at a time: what ``train_epoch`` drives for one
    student and ``loop.train_group`` for several in lockstep (each batch offered to every one)."""

    step: TrainStep
    progress: EpochProgress
    epoch: int
    callbacks: TrainCallbacks
    report_seconds: float = 1.0
    next_report: float = 0.0

    def begin(self, batches: int) -> None:
        """Train mode, the running sums on the device (from where a stopped epoch left them)."""
        self.step.student.train()
        self.progress.started = time.perf_counter() - self.progress.sums.seconds
        self.progress.running = RunningSums(self.progress.sums, self.step.device, self.step.ranks)
        self.progress.batches = batches
        self.next_report = time.perf_counter() + self.report_seconds

    def batch(self, images: torch.Tensor, labels: torch.Tensor) -> bool:
        """Train one batch and report it; True when ``should_stop`` asks to stop after it."""
        self.train_batch(images, labels)
        return self.wants_stop()

    def wants_stop(self) -> bool:
        """``should_stop``'s answer after the batch just trained."""
        return bool(self.callbacks.should_stop and self.callbacks.should_stop())

    def train_batch(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Train one batch and report it (``on_batch_end``); with ranks, the batch is this rank's
        slice of the global batch (the data path loads only that, ``sdd_core.data.rank_slices``)."""
        assert self.progress.running is not None, "begin() first"
        # 1. The step, and its statistics added on the device.
        statistics, finite = self.step(images, labels, self.epoch)
        self.progress.running.add(statistics, finite, labels.shape[0])
        self.progress.batches_done += 1
        # 2. Report (the loss parts only at a report point), and stop here if asked.
        callbacks = self.callbacks
        if callbacks.on_batch_end:
            parts: dict[str, float] = {}
            now = time.perf_counter()
            if now >= self.next_report:
                self.next_report = now + self.report_seconds
                loss, ce, kd = statistics[:3].tolist()
                parts = {"loss": loss, "ce": ce, "kd": kd}
            callbacks.on_batch_end(self.epoch, self.progress.batches_done, self.progress.batches, parts)


def train_epoch(
    step: TrainStep,
    source: BatchSource,
    *,
    seed: int,
    epoch: int,
    callbacks: TrainCallbacks,
    progress: EpochProgress,
    report_seconds: float = 1.0,
) -> bool:
    """Train ``source``'s batches of the epoch drawn from ``seed`` after ``progress.batches_done``,
    adding to ``progress``; False if ``should_stop`` stopped it. Reads nothing from the device
    but at report points: call ``progress.finish()`` for the sums.

    Batch indices reported to ``on_batch_end`` count from the start of the epoch.
    """
    run = EpochRun(step, progress, epoch, callbacks, report_seconds)
    run.begin(len(source))
    for images, labels in source.batches(seed, skip=progress.batches_done):
        if run.batch(images, labels):
            return False
    return True
