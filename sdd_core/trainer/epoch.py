"""One training epoch, which can stop after any batch and later continue exactly where it stopped.

An epoch's batches come from a permutation drawn from a generator seeded with the epoch's seed
(``runtime.epoch_seed``), and its augmentation from the global RNGs, seeded the same way. So a
stopped epoch is continued by drawing the same permutation again, skipping the batches already
trained (indices only: no image is loaded for them), and restoring the RNG states saved at the
stop before the next batch is fetched. With loader worker processes (``num_workers > 0``) the
batches are the same but their augmentation draws are not (each worker's RNG lives in its own
process); with ``num_workers=0`` (the default) the continued epoch is bit-identical on CPU.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Iterator, Sized
from dataclasses import dataclass, field

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from sdd_core.models import PooledLinearClassifier
from sdd_core.spec import Precision
from sdd_core.trainer.distillation_step import LossConfig, student_loss, teacher_targets
from sdd_core.trainer.evaluation import topk_correct
from sdd_core.trainer.options import TrainCallbacks, TrainOptions
from sdd_core.trainer.runtime import autocast
from sdd_core.trainer.teacher import FrozenTeacher
from sdd_core.trainer.training_state import EpochSums

log = logging.getLogger(__name__)


@dataclass
class EpochProgress:
    """How far an epoch got: batches trained and the running sums its metrics are made of."""

    batches_done: int = 0
    batches: int = 0  # batches per epoch, known once the epoch's loader is built
    sums: EpochSums = field(default_factory=EpochSums)


class SkipBatches(Sampler[list[int]]):
    """A batch sampler without its first ``skip`` batches (drawn, then dropped: the permutation
    is the one the full epoch draws)."""

    def __init__(self, batches: BatchSampler, skip: int) -> None:
        self.batches = batches
        self.skip = skip

    def __iter__(self) -> Iterator[list[int]]:
        return itertools.islice(iter(self.batches), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.batches) - self.skip, 0)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    options: TrainOptions,
    device: torch.device,
    skip_batches: int = 0,
) -> DataLoader:
    """A loader whose order derives from ``seed`` alone, without its first ``skip_batches`` batches.

    The sampler and the loader share one generator, as ``DataLoader(shuffle=True, generator=g)``
    would build them, so skipping changes nothing about the batches that remain.
    """
    if not isinstance(dataset, Sized):
        raise TypeError(f"{type(dataset).__name__} has no length; the trainer needs map-style datasets")
    generator = torch.Generator().manual_seed(seed)
    sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
    batches = SkipBatches(BatchSampler(sampler, batch_size, drop_last=False), skip_batches)
    return DataLoader(
        dataset,
        batch_sampler=batches,
        generator=generator,
        num_workers=options.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )


def train_epoch(
    student: PooledLinearClassifier,
    teacher: FrozenTeacher | None,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    config: LossConfig,
    epoch: int,
    device: torch.device,
    precision: Precision,
    channels_last: bool,
    callbacks: TrainCallbacks,
    progress: EpochProgress,
) -> bool:
    """Train the batches ``loader`` holds, adding to ``progress``; False if ``should_stop`` stopped it.

    ``loader`` yields the batches after ``progress.batches_done`` (see ``make_loader``); batch
    indices reported to ``on_batch_end`` count from the start of the epoch.
    """
    student.train()
    sums = progress.sums
    started = time.perf_counter() - sums.seconds
    batches = progress.batches = progress.batches_done + len(loader)
    stopped = False
    for images, labels in loader:
        # 1. The batch, where the model runs.
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        # 2. Forward: teacher targets, then the student's loss.
        with autocast(device, precision):
            targets = teacher_targets(teacher, images, config)
            out = student_loss(student, images, labels, targets, config=config, epoch=epoch)
        # 3. Backward and update, unless the loss is not finite (the step is skipped and counted).
        optimizer.zero_grad(set_to_none=True)
        loss = out["loss"]
        progress.batches_done += 1
        sums.steps += 1
        sums.images += labels.shape[0]
        if not math.isfinite(loss.item()):
            sums.nonfinite += 1
            log.warning("epoch %d step %d: non-finite loss, step skipped", epoch, progress.batches_done)
        else:
            loss.backward()
            optimizer.step()
            sums.loss += loss.item()
            sums.ce += out["ce"].item()
            sums.kd += out["kd"].item()
            sums.complementary += out["complementary"].item() if "complementary" in out else 0.0
            sums.correct += topk_correct(out["logits"], labels, (1,))[0]
        # 4. Report, and stop here if asked.
        if callbacks.on_batch_end:
            callbacks.on_batch_end(
                epoch,
                progress.batches_done,
                batches,
                {"loss": loss.item(), "ce": out["ce"].item(), "kd": out["kd"].item()},
            )
        if callbacks.should_stop and callbacks.should_stop():
            stopped = True
            break
    sums.seconds = time.perf_counter() - started
    return not stopped
