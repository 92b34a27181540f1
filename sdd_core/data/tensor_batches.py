"""Batches built where the model runs, from a split held there: the device-resident data path.

A ``DeviceBatches`` holds one split as uint8 ``ImageTensors`` on the training device. Each epoch
it draws every random number up front from a generator on that device seeded with the epoch's
data seed (``augmentation.EpochDraws``), then builds batch ``i`` from positions
``[i * B, (i + 1) * B)`` of the permutation: gather the images, crop and flip the whole batch at
once, normalise it in the same pass. Nothing goes through the host and nothing is read back, so
on CUDA no batch waits for the CPU; on the CPU a batch of 64 CIFAR images costs well under a
millisecond (``benchmarks/epoch_throughput.py``).

With several ranks (``part`` = (rank, ranks)) each rank builds only its slice of every batch
(``rank_slices``): the same images, crops and flips slicing the whole batch gives.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from sdd_core.data.augmentation import Augmentation, EpochDraws, Normaliser, crop_and_flip
from sdd_core.data.image_tensors import ImageTensors
from sdd_core.data.rank_slices import SINGLE, rank_slice

Batch = tuple[torch.Tensor, torch.Tensor]
"""(images (B, 3, S, S) float32 normalised, labels (B,) int64), both on the training device."""


class DeviceBatches:
    """The batches of one split, built on ``device``.

    ``augmentation`` None (the validation split) gives the images in order, unaugmented;
    otherwise every epoch is shuffled and augmented from the seed ``batches`` is given.
    """

    def __init__(
        self,
        split: ImageTensors,
        *,
        batch_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augmentation: Augmentation | None,
        device: torch.device,
        memory_format: torch.memory_format = torch.contiguous_format,
        part: tuple[int, int] = SINGLE,
    ) -> None:
        self.split = split.to(device)
        self.part = part
        self.batch_size = batch_size
        self.device = device
        self.memory_format = memory_format
        self.normalise = Normaliser(mean, std, device)
        self.shuffle = augmentation is not None
        size = split.images.shape[-1]
        self.padding = augmentation.padding(size) if augmentation is not None else 0
        self.flip = augmentation is not None and augmentation.flip

    def __len__(self) -> int:
        return math.ceil(len(self.split) / self.batch_size)

    @property
    def images(self) -> int:
        return len(self.split)

    def close(self) -> None:
        """Nothing to stop: the split is a tensor (the loader path's ``close`` stops processes)."""

    def batches(self, seed: int | None = None, skip: int = 0) -> Iterator[Batch]:
        """The epoch drawn from ``seed`` without its first ``skip`` batches (drawn, then dropped)."""
        draws = EpochDraws.draw(
            len(self.split),
            seed=seed if self.shuffle else None,
            padding=self.padding,
            flip=self.flip,
            device=self.device,
        )
        for i in range(skip, len(self)):
            batch = rank_slice(range(i * self.batch_size, min((i + 1) * self.batch_size, len(self.split))), *self.part)
            positions = slice(batch.start, batch.stop)
            if self.shuffle:
                index = draws.order[positions]  # (B,)
                images, labels = self.split.images[index], self.split.labels[index]  # (B, 3, S, S) uint8, (B,)
            else:
                images, labels = self.split.images[positions], self.split.labels[positions]
            offsets = draws.offsets[positions] if draws.offsets is not None else None  # (B, 2)
            flips = draws.flips[positions] if draws.flips is not None else None  # (B,)
            images = crop_and_flip(images, offsets, flips, self.padding)  # (B, 3, S, S) uint8
            yield self.normalise(images).contiguous(memory_format=self.memory_format), labels
