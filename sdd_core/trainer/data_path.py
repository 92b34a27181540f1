"""Which data path a job takes, and the batches it gets from it: ``prepare_data`` chooses the path
(``choose_path``) and builds it with ``device_resident_data`` or ``loader_data``.

- ``device``: small images (the CIFAR pipeline: digits, cifar10/100, image folders of images of
  at most 64 px) whose train and val splits together fit under ``device_data_max_bytes`` are held
  as uint8 tensors on the training device and batched, augmented and normalised there
  (``sdd_core.data.tensor_batches``). Evaluation runs in large batches from the same tensors.
- ``loader``: large images (the ImageNet pipeline), or small ones over the cap, go through a
  DataLoader with worker processes, pinned memory and prefetching (``sdd_core.data.loader_batches``).
  A folder of JPEGs trained on a GPU is decoded there (nvJPEG, ``sdd_core.data.device_decoding``):
  the workers only read the files.

A sharded dataset (``shards:<index.json>``) takes either path as an image folder would: the
device path decodes every shard once; the loader path reads its shards a few at a time in a
shard-aware order and fetches the next ones ahead (``sdd_core.data.shard_order``), its workers
reading images from the shards (the bytes only, when its JPEGs are decoded on a GPU). Shards come
from ``TrainOptions.fetch_shard`` (the service's node cache), else from beside the index.

Under the ``held_out`` protocol (``sdd_core.data.holdout``) a stratified part of the training
split, chosen once from its labels, is the validation split (``val``: every choice) and is never
trained on; the dataset's val split is the test split (``test``), evaluated once at the end. The
device path selects the part from its tensors, the loader path through its batch sampler
(``LoaderBatches(select=...)``, which keeps a sharded split's shard-aware order).

With several ranks (``TrainOptions.world_size``) each rank's training batches are its slice of
the global batch, on both paths (``sdd_core.data.rank_slices``): a rank loads no other rank's
images. Every rank evaluates the whole validation split.

The two paths draw different random numbers from the same (seed, epoch) derivation, so a run
resumed on the other path would be valid but not bit-identical: a resumed run keeps the path its
checkpoint records when it can (``prefer``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch.utils.data import Dataset

from sdd_core.data import (
    Augmentation,
    DatasetInfo,
    ImageTensors,
    build_datasets,
    build_image_tensors,
    dataset_identity,
    dataset_pipeline,
)
from sdd_core.data import describe_dataset as describe
from sdd_core.data.device_decoding import (
    DeviceDecoder,
    EncodedImages,
    EncodedShardImages,
    all_jpeg,
    collate_encoded,
    device_decode_wanted,
)
from sdd_core.data.holdout import HeldOutPart, evaluation_view, held_out_part, split_labels
from sdd_core.data.image_folder import ImageFileDataset
from sdd_core.data.image_tensors import split_bytes
from sdd_core.data.loader_batches import EpochOrder, LoaderBatches, default_workers
from sdd_core.data.shard_order import ShardOrder
from sdd_core.data.shards import ShardedImages
from sdd_core.data.tensor_batches import Batch, DeviceBatches
from sdd_core.methods import ResolvedHyperparameters
from sdd_core.trainer.options import TrainOptions

log = logging.getLogger(__name__)

DataPathName = Literal["device", "loader"]
DATA_PATHS: tuple[DataPathName, ...] = ("device", "loader")

DEVICE_DATA_SHARE = 4
"""Without a setting, the device-resident splits may take 1/4 of the device's memory (host RAM on
the CPU): CIFAR-100 (180 MB in all) fits with a wide margin on any GPU that trains its models."""

EVAL_BATCH_SIZE = {"cuda": 1024, "cpu": 256}
"""At least this many images per evaluation batch on the device-resident path."""


class BatchSource(Protocol):
    """An epoch's batches on the training device: ``batches(seed, skip)``; ``len()`` batches per epoch."""

    @property
    def images(self) -> int: ...

    def __len__(self) -> int: ...

    def batches(self, seed: int | None = None, skip: int = 0) -> Iterator[Batch]: ...

    def close(self) -> None: ...


@dataclass
class TrainingData:
    """The data of one run: the path taken and why, the dataset's info, and both splits' batches."""

    path: DataPathName
    reason: str
    info: DatasetInfo
    augmentation: Augmentation
    train: BatchSource
    val: BatchSource
    """The validation split: the best epoch, early stopping, a sweep's choice."""
    test: BatchSource | None = None
    """With ``held_out``: the dataset's val split, evaluated once on the exported weights; else None."""
    held_out: HeldOutPart | None = None
    """With ``held_out``: the training split's indices held out as ``val``."""
    workers: int = 0
    decode: Literal["workers", "device"] = "workers"
    """Where the loader path decodes images: in its workers, or on the training device (JPEGs)."""
    identity: str = ""
    """What names the data in a checkpoint (``sdd_core.data.dataset_identity``): a sharded
    dataset's index digest, else its name."""

    @property
    def protocol(self) -> str:
        return "held_out" if self.held_out is not None else "literature"

    @property
    def report(self) -> BatchSource:
        """The split the final student is reported on: ``test`` when there is one, else ``val``."""
        return self.test if self.test is not None else self.val

    def close(self) -> None:
        """Stop the loader's worker processes, if any (the run is over)."""
        self.train.close()
        self.val.close()
        if self.test is not None:
            self.test.close()

    def describe_protocol(self) -> dict[str, object]:
        """JSON-ready, as the model card records it: the protocol and the held-out part."""
        if self.held_out is None:  # one split chooses and reports, as the literature's tables
            return {"name": "literature", "validation_split": "val", "test_split": None, "reported_on": "val"}
        return {
            "name": "held_out",
            "validation_split": "train (held-out part)",
            "test_split": "val",
            "reported_on": "test",
            "held_out": self.held_out.describe(),
        }

    def describe(self) -> dict[str, object]:
        """JSON-ready, as the model card records it."""
        return {
            "path": self.path,
            "reason": self.reason,
            "loader_workers": self.workers,
            "decode": self.decode,
            "augmentation": self.augmentation.describe(self.info.image_size),
        }


def device_data_cap(device: torch.device, setting: int | None) -> int:
    """Bytes the device-resident splits may take: ``setting``, else a share of the device's memory."""
    if setting is not None:
        return setting
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // DEVICE_DATA_SHARE
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // DEVICE_DATA_SHARE
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def choose_path(pipeline: str, need: int, cap: int, prefer: DataPathName | None = None) -> tuple[DataPathName, str]:
    """(path, reason): ``device`` for small images whose splits fit under ``cap`` bytes, else ``loader``."""
    if pipeline != "cifar":
        return "loader", "large images (the ImageNet pipeline decodes and crops each file)"
    if need > cap:
        return "loader", f"the splits take {need / 1e6:.1f} MB, over the device-resident cap of {cap / 1e6:.1f} MB"
    if prefer == "loader":
        return "loader", "resumed on the loader path its checkpoint was written on"
    return "device", f"small images, {need / 1e6:.1f} MB held on the device (cap {cap / 1e6:.1f} MB)"


def augmentation_of(hp: ResolvedHyperparameters) -> Augmentation:
    return Augmentation(flip=hp.flip, crop_padding=hp.crop_padding, crop_scale_min=hp.crop_scale_min)


def prepare_data(
    dataset: str,
    hp: ResolvedHyperparameters,
    *,
    image_size: int | None,
    seed: int,
    options: TrainOptions,
    device: torch.device,
    memory_format: torch.memory_format,
    prefer: DataPathName | None = None,
    protocol: str = "literature",
    holdout_fraction: float = 0.1,
) -> TrainingData:
    """Choose the data path for ``dataset`` on ``device`` and build both splits' batches on it;
    ``protocol`` ``held_out`` holds ``holdout_fraction`` of the training split out as validation
    (drawn from ``seed``) and makes the val split the test split."""
    root = options.data_root
    info = describe(dataset, data_root=root, image_size=image_size, download=options.allow_download)
    pipeline = dataset_pipeline(dataset, data_root=root, image_size=image_size)
    need = split_bytes(info.train_size + info.val_size, info.image_size)
    path, reason = choose_path(pipeline, need, device_data_cap(device, options.device_data_max_bytes), prefer)
    log.info("data path for %s: %s (%s)", dataset, path, reason)
    hold_out = HoldOut(holdout_fraction, seed) if protocol == "held_out" else None
    if path == "device":
        data = device_resident_data(
            dataset, hp, reason, image_size=image_size, options=options, device=device, memory_format=memory_format,
            hold_out=hold_out,
        )  # fmt: skip
    else:
        data = loader_data(
            dataset, hp, reason, image_size=image_size, seed=seed, pipeline=pipeline, options=options, device=device,
            memory_format=memory_format, hold_out=hold_out,
        )  # fmt: skip
    data.identity = dataset_identity(dataset, data_root=root)
    return data


@dataclass(frozen=True)
class HoldOut:
    """What the ``held_out`` protocol holds out of the training split: a fraction, drawn from a seed."""

    fraction: float
    seed: int

    def of(self, labels: torch.Tensor | list[int]) -> HeldOutPart:
        return held_out_part(labels, self.fraction, self.seed)


def device_resident_data(
    dataset: str,
    hp: ResolvedHyperparameters,
    reason: str,
    *,
    image_size: int | None,
    options: TrainOptions,
    device: torch.device,
    memory_format: torch.memory_format,
    hold_out: HoldOut | None = None,
) -> TrainingData:
    """The ``device`` path: both splits as uint8 tensors on ``device``, batched, augmented and
    normalised there; evaluation in batches of at least ``EVAL_BATCH_SIZE`` images. With
    ``hold_out``, its part of the training tensors is the validation split, val the test split."""
    augmentation = augmentation_of(hp)
    train_split, val_split, info = build_image_tensors(
        dataset,
        data_root=options.data_root,
        image_size=image_size,
        download=options.allow_download,
        fetch_shard=options.fetch_shard,
    )
    eval_batch = max(hp.batch_size, EVAL_BATCH_SIZE.get(device.type, hp.batch_size))

    def on_device(split: ImageTensors, batch_size: int, train: bool) -> DeviceBatches:
        return DeviceBatches(
            split,
            batch_size=batch_size,
            mean=info.mean,
            std=info.std,
            augmentation=augmentation if train else None,
            device=device,
            memory_format=memory_format,
            part=(options.rank, options.world_size) if train else (0, 1),
        )

    if hold_out is None:
        return TrainingData(
            path="device",
            reason=reason,
            info=info,
            augmentation=augmentation,
            train=on_device(train_split, hp.batch_size, True),
            val=on_device(val_split, eval_batch, False),
        )
    part = hold_out.of(train_split.labels)

    def selected(indices: torch.Tensor) -> ImageTensors:
        return ImageTensors(train_split.images[indices], train_split.labels[indices])  # (n, 3, H, W), (n,)

    return TrainingData(
        path="device",
        reason=reason,
        info=info,
        augmentation=augmentation,
        train=on_device(selected(part.kept), hp.batch_size, True),
        val=on_device(selected(part.held), eval_batch, False),
        test=on_device(val_split, eval_batch, False),
        held_out=part,
    )


def loader_data(
    dataset: str,
    hp: ResolvedHyperparameters,
    reason: str,
    *,
    image_size: int | None,
    seed: int,
    pipeline: str,
    options: TrainOptions,
    device: torch.device,
    memory_format: torch.memory_format,
    hold_out: HoldOut | None = None,
) -> TrainingData:
    """The ``loader`` path: a DataLoader per split with worker processes (the job's
    ``loader_workers``, else ``options.num_workers``, else from the CPUs), pinned memory and
    prefetching; a large-image folder of JPEGs, or a sharded dataset of large images, decoded on
    ``device`` when wanted (the workers then only read the bytes). With ``hold_out``, its part of
    the training split (seen through the evaluation transform) is the validation split, val the test split."""
    augmentation = augmentation_of(hp)
    workers = hp.loader_workers if hp.loader_workers is not None else options.num_workers
    workers = default_workers(device) if workers is None else workers
    train_set, val_set, info = build_datasets(
        dataset,
        data_root=options.data_root,
        image_size=image_size,
        download=options.allow_download,
        augmentation=augmentation,
        fetch_shard=options.fetch_shard,
    )
    sharded = isinstance(train_set, ShardedImages) and isinstance(val_set, ShardedImages)
    folder_of_jpegs = (
        isinstance(train_set, ImageFileDataset)
        and isinstance(val_set, ImageFileDataset)
        and all_jpeg(train_set.samples)
        and all_jpeg(val_set.samples)
    )
    decode_here = (
        pipeline == "imagenet" and (folder_of_jpegs or sharded) and device_decode_wanted(options.device_decode, device)
    )
    if decode_here:
        source = "the shards' bytes" if sharded else "the files"
        reason += f"; JPEGs decoded on the {device.type} (workers read {source})"
        log.info("data path for %s: JPEG files decoded on %s", dataset, device)

    def loader(split: Dataset, train: bool, select: torch.Tensor | None = None) -> LoaderBatches:
        collate, finish, order = None, None, None
        if isinstance(split, ShardedImages):  # a few shards at a time, the next ones fetched ahead
            order = shard_order(split, options)
        if decode_here:  # the workers read the bytes; each batch is decoded on the device
            if isinstance(split, ShardedImages):
                collate, split = collate_encoded, EncodedShardImages(split)
            else:
                assert isinstance(split, ImageFileDataset)
                collate, split = collate_encoded, EncodedImages(split.samples)
            finish = DeviceDecoder(
                size=info.image_size,
                mean=info.mean,
                std=info.std,
                augmentation=augmentation if train else None,
                device=device,
                memory_format=memory_format,
            )
        return LoaderBatches(
            split,
            batch_size=hp.batch_size,
            shuffle=train,
            workers=workers,
            device=device,
            seed=seed,
            memory_format=memory_format,
            collate=collate,
            finish=finish,
            order=order,
            part=(options.rank, options.world_size) if train else (0, 1),
            select=select,
        )

    if hold_out is not None:
        part = hold_out.of(split_labels(train_set))
        return TrainingData(
            path="loader",
            reason=reason,
            info=info,
            augmentation=augmentation,
            train=loader(train_set, True, part.kept),
            val=loader(evaluation_view(train_set, val_set), False, part.held),
            test=loader(val_set, False),
            held_out=part,
            workers=workers,
            decode="device" if decode_here else "workers",
        )
    return TrainingData(
        path="loader",
        reason=reason,
        info=info,
        augmentation=augmentation,
        train=loader(train_set, True),
        val=loader(val_set, False),
        workers=workers,
        decode="device" if decode_here else "workers",
    )


def shard_order(split: ShardedImages, options: TrainOptions) -> EpochOrder:
    """The shard-aware order of a sharded split, fetching ahead through ``options.fetch_shard``."""
    return ShardOrder(split.shard_counts, split.files.refs, options.fetch_shard)
