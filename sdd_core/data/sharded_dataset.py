"""Datasets stored as WebDataset shards: ``shards:<path to index.json>`` (or to its folder).

Everything checking a job needs comes from the index (``shard_index``): classes, split sizes,
working size, pipeline and normalisation statistics were measured at ingestion, so describing a
sharded dataset reads one small file and no shard. A job's ``image_size`` overrides the size, not
the pipeline, as for an image folder; the statistics stay those measured at the index's size
(an image folder measures again at the job's size).

``build_shards`` gives the loader path's two ``ShardedImages`` with the image folder's transforms
(so the same images give the same tensors), ``shards_tensors`` the device-resident path's uint8
tensors, every sample decoded once, the shards read in order (fetched ahead when they come from
elsewhere). ``shards_identity`` names the data by the index's SHA-256, wherever it lies: what a
checkpoint records.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sdd_core.data.augmentation import Augmentation
from sdd_core.data.image_bytes import rgb_tensor
from sdd_core.data.image_tensors import ImageTensors, stacked_at_size
from sdd_core.data.info import DatasetInfo, DatasetShape
from sdd_core.data.names import SHARDS_PREFIX
from sdd_core.data.shard_index import ShardIndex, SplitShards
from sdd_core.data.shard_order import ShardPrefetcher
from sdd_core.data.shards import INDEX_FILE, Decode, FetchShard, ShardedImages, ShardFiles, read_index
from sdd_core.data.transforms import PIPELINES, PipelineKind, eval_transform, train_transform
from sdd_core.errors import DataError

IDENTITY_PREFIX = "shards@sha256:"


def shards_index_path(name: str, data_root: Path) -> Path:
    """The index a ``shards:<path>`` name points to: relative paths under ``data_root``; a folder
    means its ``index.json``."""
    path = Path(name[len(SHARDS_PREFIX) :].strip()).expanduser()
    path = path if path.is_absolute() else data_root / path
    return path / INDEX_FILE if path.is_dir() else path


def load_shards_index(name: str, data_root: Path) -> tuple[ShardIndex, Path]:
    """(index, the folder its relative shard keys are under); DataError naming what is wrong."""
    path = shards_index_path(name, data_root)
    index = read_index(path)
    if index.pipeline not in PIPELINES:
        raise DataError(f"{path}: unknown pipeline {index.pipeline!r} (one of {', '.join(PIPELINES)})")
    return index, path.parent


def shards_identity(name: str, data_root: Path) -> str:
    """``shards@sha256:<index digest>``: the data, whichever node's copy the name points to."""
    return f"{IDENTITY_PREFIX}{load_shards_index(name, data_root)[0].digest()}"


def shards_pipeline(name: str, data_root: Path) -> PipelineKind:
    pipeline = load_shards_index(name, data_root)[0].pipeline
    return "cifar" if pipeline == "cifar" else "imagenet"


def shards_shape(name: str, data_root: Path, image_size: int | None = None) -> DatasetShape:
    index, _ = load_shards_index(name, data_root)
    return DatasetShape(name, len(index.classes), list(index.classes), image_size or index.image_size,
                        index.train.samples, index.val.samples)  # fmt: skip


def describe_shards(name: str, data_root: Path, image_size: int | None = None) -> DatasetInfo:
    index, _ = load_shards_index(name, data_root)
    return _info(name, index, image_size)


def build_shards(
    name: str,
    data_root: Path,
    image_size: int | None = None,
    augmentation: Augmentation | None = None,
    fetch: FetchShard | None = None,
) -> tuple[ShardedImages, ShardedImages, DatasetInfo]:
    """(augmented train set, val set, info); shards come from ``fetch`` (None: the index's folder)."""
    index, folder = load_shards_index(name, data_root)
    info = _info(name, index, image_size)
    kind = shards_pipeline(name, data_root)
    size, mean, std = info.image_size, info.mean, info.std
    decode: Decode = "pil" if kind == "cifar" else "tensor"
    train_tf, val_tf = train_transform(kind, size, mean, std, augmentation), eval_transform(kind, size, mean, std)
    classes = len(index.classes)
    train = ShardedImages(ShardFiles("train", index.train, folder, classes, fetch), train_tf, decode)
    val = ShardedImages(ShardFiles("val", index.val, folder, classes, fetch), val_tf, decode)
    return train, val, info


def shards_tensors(
    name: str, data_root: Path, image_size: int | None = None, fetch: FetchShard | None = None
) -> tuple[ImageTensors, ImageTensors, DatasetInfo]:
    """Every image decoded once into uint8 tensors at the working size: (train, val, info); small
    images (the CIFAR pipeline) only, as ``image_folder_tensors``."""
    index, folder = load_shards_index(name, data_root)
    if index.pipeline != "cifar":
        raise ValueError(f"{name} holds large images (the ImageNet pipeline); they are not held as tensors")
    info = _info(name, index, image_size)

    def decoded(split: str, shards: SplitShards) -> ImageTensors:
        files = ShardFiles(split, shards, folder, len(index.classes), fetch)
        prefetcher = ShardPrefetcher(shards.shards, fetch) if fetch is not None else None
        try:
            if prefetcher is not None:
                prefetcher.want(range(len(shards.shards)))
            images, labels = [], []
            for shard in range(len(shards.shards)):
                for number, member in enumerate(files.members(shard)):
                    where = f"#{number} of {files.name(shard)}"
                    images.append(rgb_tensor(files.read(shard, member), member.extension, where))  # (3, h, w)
                    labels.append(member.label)
        finally:
            files.close()
            if prefetcher is not None:
                prefetcher.close()
        stacked = stacked_at_size(images, info.image_size)  # (N, 3, S, S)
        return ImageTensors(stacked, torch.tensor(labels, dtype=torch.long))

    return decoded("train", index.train), decoded("val", index.val), info


def _info(name: str, index: ShardIndex, image_size: int | None) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        num_classes=len(index.classes),
        classes=list(index.classes),
        image_size=image_size or index.image_size,
        mean=index.mean,
        std=index.std,
        train_size=index.train.samples,
        val_size=index.val.samples,
    )
