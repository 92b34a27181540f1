"""Batches from a DataLoader with worker processes: the loader data path (large images).

One ``LoaderBatches`` serves every epoch of a job from one ``DataLoader`` (persistent workers,
pinned memory, prefetching). Its batch sampler (``EpochBatchSampler``) is told each epoch's data
seed: it draws the permutation from it and gives each position ``p`` of the epoch a sample seed
derived from (seed, p). ``SeededItems`` seeds torch's RNG with it around that one item's
transforms, so an image's augmentation depends on (seed, epoch, position) alone: not on which
worker drew it, nor on how many workers there are, nor on what was drawn before. A resumed epoch
skips the batches already trained (indices only, nothing is decoded for them) and draws the same
augmentation for the rest as the uninterrupted run, with any number of workers.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable, Iterator, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sdd_core.data.tensor_batches import Batch

PREFETCH_BATCHES = 4
"""Batches each worker prepares ahead of the one being trained."""

_GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / phi: consecutive positions get well-spread seeds


def sample_seed(seed: int, position: int) -> int:
    """The seed of the item at ``position`` of an epoch whose data seed is ``seed``."""
    return (seed + (position + 1) * _GOLDEN) % (2**63 - 1)


def default_workers(device: torch.device) -> int:
    """Loader processes when neither a job nor a setting says: the CPUs this process may use, less
    one for the training process, at most 8, when a GPU trains; none when the CPU trains (the
    model's own threads use every core)."""
    if device.type != "cuda":
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(8, cpus - 1))


def ignore_stop_signals(_worker_id: int) -> None:
    """In each loader worker: the SIGTERM or SIGINT sent to a whole process group (a worker's
    shutdown, Ctrl-C) is the training process's to act on. It stops at a batch and closes the
    loader (``LoaderBatches.close``); a worker that died first would fail the epoch instead."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class SeededItems(Dataset):
    """``dataset`` indexed by (index, sample seed): torch's RNG is seeded with the sample seed for
    that item's transforms and restored afterwards (the training process's RNG is untouched when
    there are no workers)."""

    def __init__(self, dataset: Dataset) -> None:
        if not isinstance(dataset, Sized):
            raise TypeError(f"{type(dataset).__name__} has no length; the trainer needs map-style datasets")
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        generator = torch.default_generator  # the CPU generator only: 1 us, not torch.manual_seed's 75
        state = generator.get_state()
        generator.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            generator.set_state(state)


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """An epoch's batches as lists of (index, sample seed); ``set_epoch`` chooses the epoch."""

    def __init__(self, count: int, batch_size: int, *, shuffle: bool) -> None:
        self.count, self.batch_size, self.shuffle = count, batch_size, shuffle
        self.seed, self.skip = 0, 0

    @property
    def batches(self) -> int:
        """Batches in a whole epoch (the last one may be smaller)."""
        return math.ceil(self.count / self.batch_size)

    def set_epoch(self, seed: int | None, skip: int = 0) -> None:
        self.seed, self.skip = seed or 0, skip

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        if self.shuffle:
            order = torch.randperm(self.count, generator=torch.Generator().manual_seed(self.seed)).tolist()
        else:
            order = list(range(self.count))
        for i in range(self.skip, self.batches):
            positions = range(i * self.batch_size, min((i + 1) * self.batch_size, self.count))
            yield [(order[p], sample_seed(self.seed, p)) for p in positions]

    def __len__(self) -> int:
        return max(self.batches - self.skip, 0)


class LoaderBatches:
    """The batches of one split through a DataLoader, moved to ``device`` (from pinned memory on CUDA).

    ``collate`` and ``finish`` replace the default batching: the loader yields ``collate``'s value
    and ``finish(*value)`` makes the batch on the device (``device_decoding``: files read by the
    workers, decoded on the GPU).
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        batch_size: int,
        shuffle: bool,
        workers: int,
        device: torch.device,
        seed: int = 0,
        memory_format: torch.memory_format = torch.contiguous_format,
        collate: Callable[[list[Any]], Any] | None = None,
        finish: Callable[..., Batch] | None = None,
    ) -> None:
        items = SeededItems(dataset)
        self.finish = finish
        self.sampler = EpochBatchSampler(len(items), batch_size, shuffle=shuffle)
        self.device = device
        self.memory_format = memory_format
        self.workers = workers
        self.loader = DataLoader(
            items,
            batch_sampler=self.sampler,
            collate_fn=collate,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=PREFETCH_BATCHES if workers > 0 else None,
            generator=torch.Generator().manual_seed(seed),  # worker seeds: (seed, worker); never the global RNG
            worker_init_fn=ignore_stop_signals if workers > 0 else None,
        )

    def __len__(self) -> int:
        return self.sampler.batches

    @property
    def images(self) -> int:
        return self.sampler.count

    def batches(self, seed: int | None = None, skip: int = 0) -> Iterator[Batch]:
        """The epoch drawn from ``seed`` without its first ``skip`` batches (nothing loaded for them)."""
        self.sampler.set_epoch(seed, skip)
        for batch in self.loader:
            if self.finish is not None:
                yield self.finish(*batch)
                continue
            images, labels = batch
            images = images.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
            yield images, labels.to(self.device, non_blocking=True)

    def close(self) -> None:
        """Stop the worker processes now (they persist across epochs); a later epoch starts new ones."""
        iterator = self.loader._iterator  # the persistent workers' iterator (None before the first epoch)
        self.loader._iterator = None
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
