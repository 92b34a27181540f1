"""A job's three data roles: train, validation (every choice) and test (reported once, at the end).

Datasets here have a train and a val split. Under the ``held_out`` protocol a stratified part of
the training split (``fraction`` of each class, drawn from the job's seed) is held out: it is the
validation split that picks the best epoch, stops early and ranks a sweep's configurations, and it
is never trained on; the dataset's val split becomes the test split, evaluated once on the exported
weights. Under ``literature`` (the SDD paper's CIFAR tables) the val split does both, as before.

``held_out_part`` selects the indices once, from the training split's labels; both data paths (the
device-resident tensors and the loader's datasets, sharded ones too) apply the same selection.
Its ``digest`` (SHA-256 of the sorted indices as little-endian int64) names it in the model card.

The normalisation statistics stay those of the whole training split: unlabelled pixel means and
deviations, measured once per dataset, not a choice made on the held-out labels.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from sdd_core.data.digits import DigitsDataset
from sdd_core.data.shards import ShardedImages

_HOLDOUT_STREAM = 0x5DEECE66D  # the held-out draw's own stream, apart from the epochs' (runtime.epoch_seed)


@dataclass(frozen=True)
class HeldOutPart:
    """The training split's indices held out for validation (``held``) and those trained on (``kept``)."""

    fraction: float
    held: torch.Tensor  # (H,) int64, sorted
    kept: torch.Tensor  # (N - H,) int64, sorted

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.held.to(torch.int64).numpy().astype("<i8").tobytes()).hexdigest()

    def describe(self) -> dict[str, object]:
        """JSON-ready, as the model card records it."""
        return {"fraction": self.fraction, "images": int(self.held.numel()), "indices_sha256": self.digest}


def held_out_part(labels: torch.Tensor | Sequence[int], fraction: float, seed: int) -> HeldOutPart:
    """Hold out ``fraction`` of each class of a training split with ``labels`` (N,), drawn from ``seed``.

    Each class with at least two images gives ``round(fraction * count)`` of them, at least one and
    never all (a class keeps an image to train on); a class of one image stays in training.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out fraction must lie strictly between 0 and 1, got {fraction}")
    labels = torch.as_tensor(labels, dtype=torch.int64).cpu()
    generator = torch.Generator().manual_seed((seed * 1_000_003 + _HOLDOUT_STREAM) % (2**63 - 1))
    held: list[torch.Tensor] = []
    for label in torch.unique(labels).tolist():  # ascending: the draw does not depend on storage order
        members = (labels == label).nonzero().flatten()  # (C,) ascending
        count = members.numel()
        take = min(max(round(fraction * count), 1), count - 1) if count >= 2 else 0
        held.append(members[torch.randperm(count, generator=generator)[:take]])
    held_indices = torch.cat(held).sort().values if held else torch.empty(0, dtype=torch.int64)
    mask = torch.ones(labels.numel(), dtype=torch.bool)
    mask[held_indices] = False
    return HeldOutPart(fraction=fraction, held=held_indices, kept=mask.nonzero().flatten())


def split_labels(split: Dataset) -> list[int]:
    """The labels of a loader-path split, in index order. A sharded split's come from its index when it
    lists them (shards this project wrote); else each shard's table is read once (every shard fetched
    before the first epoch)."""
    if isinstance(split, ShardedImages):
        listed = [ref.label_list() for ref in split.files.refs]
        if all(labels is not None for labels in listed):
            return [label for labels in listed for label in labels or []]
        return [member.label for shard in range(len(split.files.refs)) for member in split.files.members(shard)]
    targets = getattr(split, "targets", None)
    if targets is None:
        raise TypeError(f"{type(split).__name__} lists no labels (targets); cannot hold out a stratified part")
    return [int(label) for label in targets]


def evaluation_view(train_set: Dataset, val_set: Dataset) -> Dataset:
    """The training split's images as the validation split sees them: its deterministic transform."""
    view: Any = copy.copy(train_set)
    if isinstance(view, DigitsDataset):
        view.augment = view.flip = False  # the crop stays centred in the padding: the image itself
    else:
        view.transform = val_set.transform  # type: ignore[attr-defined]
    return view
