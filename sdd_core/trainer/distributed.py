"""One job trained by N ranks on one node with torch.distributed (DDP around the student).

    every rank: the same data, the same global batches (seed, epoch), the frozen teacher
        -> its contiguous slice of each global batch, the only images its data path loads
           (``sdd_core.data.rank_slices``; the slice ``torch.tensor_split`` takes)
        -> the student's loss parts through DistributedDataParallel (gradients averaged)
        -> one all_reduce of ``finite`` (every rank skips a non-finite step together)
        -> one all_reduce of the stop flag, which rank 0 alone decides (``should_stop``)
    at the end of an epoch: the running sums reduced across ranks (``combine_sums``); every rank
    evaluates (same weights, same split); rank 0 alone writes metrics, checkpoints, the student.

``batch_size`` stays the global batch: with N ranks each trains ``batch_size / N`` images of
every batch the single-process run draws, so the batch order and augmentation are those of that
run. With ``sync_batchnorm`` the batch norms normalise with the global batch's statistics, as a
single process does, and the epoch's loss matches the single-process run closely (see
tests/sdd_core/trainer/test_distributed.py); without it each rank normalises its own slice.

The caller starts the ranks and the process group (``init_ranks``; ``launch`` for tests and
benchmarks, ``worker.distributed_job`` for the job service).
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sdd_core.trainer.distillation_step import LossConfig, loss_parts
from sdd_core.trainer.options import TrainCallbacks

RANK_TIMEOUT_SECONDS = 120.0
"""How long a collective waits for a rank that stopped answering before it raises."""


class StudentParts(nn.Module):
    """The student's loss parts as one module call, so that DDP wraps what the step runs (SD methods
    call ``forward_features`` and the head rather than ``forward``)."""

    def __init__(self, student: nn.Module, config: LossConfig) -> None:
        super().__init__()
        self.student, self.config = student, config

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        return loss_parts(self.student, images, labels, targets, config=self.config)  # type: ignore[arg-type]


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d normalising with the statistics of every rank's images, on the CPU (gloo):
    ``nn.SyncBatchNorm`` runs on GPUs only. The sums go through the functional collectives' all_reduce
    (differentiable: its backward all-reduces the gradients), so gradients flow across ranks as with ``nn.SyncBatchNorm``; the
    running statistics are updated as BatchNorm2d updates them (unbiased variance)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        channels = x.shape[1]
        count = torch.full((1,), float(x.shape[0] * x.shape[2] * x.shape[3]), dtype=x.dtype)
        local = torch.cat([x.sum(dim=(0, 2, 3)), (x * x).sum(dim=(0, 2, 3)), count])  # (2C + 1,)
        world = dist.group.WORLD
        assert world is not None, "CpuSyncBatchNorm trains inside an initialised process group"
        total = funcol.all_reduce(local, "sum", world)  # (2C + 1,), summed over ranks
        n = total[-1]
        mean = total[:channels] / n  # (C,)
        var = total[channels : 2 * channels] / n - mean * mean  # (C,), biased
        with torch.no_grad():
            assert self.running_mean is not None and self.running_var is not None
            assert self.num_batches_tracked is not None
            self.num_batches_tracked.add_(1)
            momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked.item())
            self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
            self.running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / (n - 1))
        scale = torch.rsqrt(var + self.eps)  # (C,)
        out = (x - mean.view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1)  # (B, C, H, W)
        return out * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with every BatchNorm2d synchronised across ranks (same parameters and buffers)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            synced = CpuSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine)
            synced.load_state_dict(child.state_dict())
            synced.weight, synced.bias = child.weight, child.bias
            setattr(model, name, synced)
        else:
            sync_batchnorm(child, device)
    return model


@dataclass(frozen=True)
class RankGroup:
    """This process's rank among ``world_size`` training one job (the process group is initialised)."""

    rank: int
    world_size: int

    @property
    def writes(self) -> bool:
        """Rank 0 alone writes metrics, checkpoints and the student, and calls the callbacks."""
        return self.rank == 0

    def wrap(self, student: nn.Module, config: LossConfig, device: torch.device) -> DistributedDataParallel:
        """The student's loss parts under DDP (gradients averaged over the ranks)."""
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(StudentParts(student, config), device_ids=ids)

    def all_finite(self, finite: torch.Tensor) -> torch.Tensor:
        """() bool: every rank's loss was finite (on the device; no host read)."""
        flag = finite.float().view(1)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return flag[0] > 0

    def combine_sums(self, delta: torch.Tensor) -> torch.Tensor:
        """(7,) loss, ce, kd, complementary, correct, nonfinite, images added by this rank since the
        epoch (or its resumed part) began -> the same for the global batches: the per-step means
        (loss, ce, kd, complementary) and the non-finite count (the same on every rank) averaged,
        the counts of images summed."""
        total = delta.clone()
        dist.all_reduce(total)
        total[:4] /= self.world_size
        total[5] /= self.world_size
        return total

    def agree_to_stop(self, asked: bool, device: torch.device) -> bool:
        """Rank 0's answer on every rank: one all_reduce of one number per batch."""
        flag = torch.tensor([1.0 if asked else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)

    def callbacks(self, given: TrainCallbacks, device: torch.device) -> TrainCallbacks:
        """Rank 0 keeps ``given``; the others get none. Every rank's ``should_stop`` returns rank 0's
        answer (rank 0's raising still tells the others to stop before it re-raises)."""
        own = given if self.writes else TrainCallbacks()
        ask = own.should_stop

        def should_stop() -> bool:
            try:
                asked = bool(ask and ask())
            except BaseException:
                self.agree_to_stop(True, device)
                raise
            return self.agree_to_stop(asked, device)

        return TrainCallbacks(
            on_epoch_end=own.on_epoch_end,
            on_checkpoint=own.on_checkpoint,
            on_batch_end=own.on_batch_end,
            should_stop=should_stop,
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for MASTER_PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def init_ranks(rank: int, world_size: int, port: int, device_type: str) -> RankGroup:
    """Join the process group of one job: nccl on CUDA (rank r on cuda:r), gloo on the CPU."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(
        backend,
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=RANK_TIMEOUT_SECONDS),
    )
    return RankGroup(rank, world_size)


def close_ranks() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _spawned(rank: int, fn: Callable[..., Any], world_size: int, port: int, device_type: str, args: tuple) -> None:
    init_ranks(rank, world_size, port, device_type)
    try:
        fn(rank, *args)
    finally:
        close_ranks()


def launch(fn: Callable[..., Any], world_size: int, *args: Any, device_type: str = "cpu") -> None:
    """Run ``fn(rank, *args)`` in ``world_size`` spawned processes joined in one process group."""
    torch.multiprocessing.spawn(
        _spawned, args=(fn, world_size, free_port(), device_type, args), nprocs=world_size, join=True
    )
