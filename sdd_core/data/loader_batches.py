"""Batches from a DataLoader with worker processes: the loader data path (large images).

One ``LoaderBatches`` serves every epoch of a job from one ``DataLoader`` (persistent workers,
pinned memory, prefetching). Its batch sampler (``EpochBatchSampler``) is told each epoch's data
seed: it draws the epoch's order from it (``EpochOrder``: a permutation of the split, or a
shard-aware one for a sharded split, ``shard_order``) and gives each position ``p`` of the epoch a
sample seed derived from (seed, p). ``SeededItems`` seeds torch's RNG with it around that one
item's transforms, so an image's augmentation depends on (seed, epoch, position) alone: not on
which worker drew it, nor on how many workers there are, nor on what was drawn before. A resumed
epoch skips the batches already trained (indices only, nothing is fetched or decoded for them)
and draws the same augmentation for the rest as the uninterrupted run, with any number of workers.

With several ranks (``part`` = (rank, ranks)) each rank's loader loads only its slice of every
global batch (``rank_slice``: the contiguous split ``torch.tensor_split`` makes), so the ranks read
disjoint samples and together the single process's batch.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable, Iterator, Sequence, Sized
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from sdd_core.data.rank_slices import SINGLE, rank_slice
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


class EmptyAware:
    """A collate function that gives None for an empty list of items (a rank's empty slice)."""

    def __init__(self, collate: Callable[[list[Any]], Any] | None) -> None:
        self.collate = collate or default_collate

    def __call__(self, items: list[Any]) -> Any:
        return self.collate(items) if items else None


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


class EpochPlan(Protocol):
    """One epoch's order: ``indices[p]`` is the sample at position ``p``; ``reached(p)`` says the
    loader is about to load position ``p`` (for an order that fetches ahead)."""

    indices: Sequence[int]

    def reached(self, position: int) -> None: ...


class EpochOrder(Protocol):
    """How a split is ordered each epoch: ``plan(seed)`` (None: in stored order)."""

    def plan(self, seed: int | None) -> EpochPlan: ...

    def close(self) -> None: ...


class Permutation:
    """A plain epoch plan: the given order, nothing to fetch ahead."""

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = indices

    def reached(self, position: int) -> None:
        pass


class Shuffled:
    """The default ``EpochOrder``: a permutation of the whole split drawn from the seed."""

    def __init__(self, count: int) -> None:
        self.count = count

    def plan(self, seed: int | None) -> Permutation:
        if seed is None:
            return Permutation(range(self.count))
        return Permutation(torch.randperm(self.count, generator=torch.Generator().manual_seed(seed)).tolist())

    def close(self) -> None:
        pass


class SelectedPlan:
    """An epoch plan of the samples a selection keeps, in the order the underlying plan draws them."""

    def __init__(self, plan: EpochPlan, keep: Sequence[bool]) -> None:
        self.plan = plan
        self.positions = [p for p, index in enumerate(plan.indices) if keep[index]]  # in the underlying plan
        self.indices: Sequence[int] = [plan.indices[p] for p in self.positions]

    def reached(self, position: int) -> None:
        if position < len(self.positions):
            self.plan.reached(self.positions[position])


class Selected:
    """``order`` restricted to the samples ``select`` lists (a held-out part, ``sdd_core.data.holdout``):
    a sharded split keeps its shard-aware order and fetching ahead."""

    def __init__(self, order: EpochOrder, select: torch.Tensor, count: int) -> None:
        self.order = order
        keep = torch.zeros(count, dtype=torch.bool)  # (N,)
        keep[select] = True
        self.keep: list[bool] = keep.tolist()

    def plan(self, seed: int | None) -> SelectedPlan:
        return SelectedPlan(self.order.plan(seed), self.keep)

    def close(self) -> None:
        self.order.close()


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """An epoch's batches as lists of (index, sample seed); ``set_epoch`` chooses the epoch.

    ``order`` draws the epoch's order (default: a permutation of all ``count`` samples);
    ``part`` = (rank, ranks) keeps that rank's slice of every batch (``rank_slice``).
    """

    def __init__(
        self,
        count: int,
        batch_size: int,
        *,
        shuffle: bool,
        order: EpochOrder | None = None,
        part: tuple[int, int] = SINGLE,
    ) -> None:
        self.count, self.batch_size, self.shuffle = count, batch_size, shuffle
        self.order: EpochOrder = order or Shuffled(count)
        self.part = part
        self.seed, self.skip = 0, 0

    @property
    def batches(self) -> int:
        """Batches in a whole epoch (the last one may be smaller)."""
        return math.ceil(self.count / self.batch_size)

    def set_epoch(self, seed: int | None, skip: int = 0) -> None:
        self.seed, self.skip = seed or 0, skip

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        plan = self.order.plan(self.seed if self.shuffle else None)
        for i in range(self.skip, self.batches):
            batch = range(i * self.batch_size, min((i + 1) * self.batch_size, self.count))
            plan.reached(batch.start)
            yield [(plan.indices[p], sample_seed(self.seed, p)) for p in rank_slice(batch, *self.part)]

    def __len__(self) -> int:
        return max(self.batches - self.skip, 0)


class LoaderBatches:
    """The batches of one split through a DataLoader, moved to ``device`` (from pinned memory on CUDA).

    ``collate`` and ``finish`` replace the default batching: the loader yields ``collate``'s value
    and ``finish(*value)`` makes the batch on the device (``device_decoding``: files read by the
    workers, decoded on the GPU). ``order`` and ``part`` are the sampler's (``EpochBatchSampler``); ``select`` (int64 indices)
    keeps those samples only, in the order's sequence (``Selected``);
    with ``part`` a rank whose slice of a (last, short) batch is empty yields an empty batch shaped
    like its last one, as slicing the global batch gave.
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
        order: EpochOrder | None = None,
        part: tuple[int, int] = SINGLE,
        select: torch.Tensor | None = None,
    ) -> None:
        items = SeededItems(dataset)
        self.finish = finish
        count = len(items)
        if select is not None:  # only these samples (a held-out part, or the rest), in the order's sequence
            order, count = Selected(order or Shuffled(count), select, count), int(select.numel())
        self.sampler = EpochBatchSampler(count, batch_size, shuffle=shuffle, order=order, part=part)
        self.last: Batch | None = None
        self.device = device
        self.memory_format = memory_format
        self.workers = workers
        self.loader = DataLoader(
            items,
            batch_sampler=self.sampler,
            collate_fn=EmptyAware(collate),
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
            if batch is None:  # this rank's slice of a short last batch is empty
                if self.last is None:
                    raise ValueError("a rank's first batch is empty: the split has fewer images than ranks")
                yield self.last[0][:0], self.last[1][:0]
                continue
            if self.finish is not None:
                self.last = self.finish(*batch)
            else:
                images, labels = batch
                images = images.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
                self.last = images, labels.to(self.device, non_blocking=True)
            yield self.last

    def close(self) -> None:
        """Stop the worker processes now (they persist across epochs) and any fetching ahead; a
        later epoch starts new ones."""
        self.sampler.order.close()
        self.last = None
        iterator = self.loader._iterator  # the persistent workers' iterator (None before the first epoch)
        self.loader._iterator = None
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
