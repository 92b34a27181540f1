"""Datasets uploaded as image folders: ``imagefolder:<path>`` with ``train/`` and ``val/`` inside.

Image size follows the data (see SDD.md): if a few training images all have sides of at most 64
px, the dataset trains at its native size with the CIFAR pipeline; otherwise with the ImageNet
pipeline at 224 px. A job's ``image_size`` overrides the size, not the pipeline. Normalisation
statistics are measured on the training split and cached in ``<root>/.sdd_stats.json`` when the
folder is writable.

The loader path decodes an image each time it is drawn (``ImageFileDataset``: PIL for small
images, ``image_codecs`` for large ones, see ``transforms``); the device-resident path, for small
images, decodes every file once per job into one uint8 tensor (``image_folder_tensors``, with
``image_codecs``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from sdd_core.data.augmentation import Augmentation
from sdd_core.data.image_decoding import image_dimensions, load_rgb_image, load_rgb_tensor
from sdd_core.data.image_folder_layout import ImageFolderLayout, Sample, scan_image_folder
from sdd_core.data.image_tensors import ImageTensors, stacked_at_size
from sdd_core.data.info import DatasetInfo, DatasetShape
from sdd_core.data.statistics import (
    Triple,
    channel_statistics,
    evenly_spaced_indices,
    read_cached_statistics,
    write_cached_statistics,
)
from sdd_core.data.transforms import (
    IMAGENET_IMAGE_SIZE,
    PipelineKind,
    eval_transform,
    measuring_transform,
    pipeline_for,
    train_transform,
)

SIZE_PROBE_IMAGES = 8
"""How many training images (spread over the split) decide the pipeline and native size."""

STATISTICS_SAMPLE_LIMIT = 2000
"""At most this many training images (spread over the split) are measured for normalisation."""

DECODE_PIXEL_BUDGET = 200_000_000
"""At most this many pixels (by the images' headers) are decoded to measure the statistics, and
again to check the validation images of an upload (``check_decodable``): 2,000 ImageNet-sized
images fit, 200 images of 6300 x 6300 do not (5 of them are measured; they once cost 65 s)."""


class ImageFileDataset(Dataset):
    """Image files decoded on access; items are (transformed image, int label).

    ``decode`` is PIL's for small images (the CIFAR pipeline's PIL transforms) and
    ``image_codecs``' for large ones (see ``transforms``).
    """

    def __init__(
        self,
        samples: list[Sample],
        classes: list[str],
        transform: Callable[[Any], torch.Tensor],
        decode: Callable[[Path], Any] = load_rgb_tensor,
    ) -> None:
        self.samples = list(samples)
        self.targets: list[int] = [label for _, label in self.samples]
        self.classes = list(classes)
        self.transform = transform
        self.decode = decode

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(self.decode(path)), label  # (3, S, S)


def build_image_folder(
    name: str, root: Path, image_size: int | None = None, augmentation: Augmentation | None = None
) -> tuple[ImageFileDataset, ImageFileDataset, DatasetInfo]:
    """(augmented train set, val set, info) of the image folder at ``root``."""
    layout = scan_image_folder(root)
    kind, size = _pipeline_and_size(layout, image_size)
    mean, std = _normalisation(layout, kind, size)
    decode = load_rgb_image if kind == "cifar" else load_rgb_tensor
    train_tf, val_tf = train_transform(kind, size, mean, std, augmentation), eval_transform(kind, size, mean, std)
    train = ImageFileDataset(layout.train_samples, layout.classes, train_tf, decode)
    val = ImageFileDataset(layout.val_samples, layout.classes, val_tf, decode)
    return train, val, _info(name, layout, size, mean, std)


def image_folder_pipeline(root: Path, image_size: int | None = None) -> PipelineKind:
    """The pipeline the folder's images call for (``cifar``: small images, ``imagenet``: large)."""
    return _pipeline_and_size(scan_image_folder(root), image_size)[0]


def image_folder_tensors(
    name: str, root: Path, image_size: int | None = None
) -> tuple[ImageTensors, ImageTensors, DatasetInfo]:
    """Every image decoded once into uint8 tensors at the working size: (train, val, info).

    For small-image folders (the CIFAR pipeline) only: a large-image folder needs each file's
    full resolution for its random resized crop, so it stays on the loader path.
    """
    layout = scan_image_folder(root)
    kind, size = _pipeline_and_size(layout, image_size)
    if kind != "cifar":
        raise ValueError(f"{root} holds large images (the ImageNet pipeline); they are not held as tensors")
    mean, std = _normalisation(layout, kind, size)

    def decoded(samples: list[Sample]) -> ImageTensors:
        images = stacked_at_size((load_rgb_tensor(path) for path, _ in samples), size)  # (N, 3, S, S)
        return ImageTensors(images, torch.tensor([label for _, label in samples], dtype=torch.long))

    return decoded(layout.train_samples), decoded(layout.val_samples), _info(name, layout, size, mean, std)


def describe_image_folder(name: str, root: Path, image_size: int | None = None) -> DatasetInfo:
    """The info ``build_image_folder`` would return.

    Lists the files and reads a few headers; the normalisation statistics come from the cache,
    or are measured (and cached) on first use, so a later build does not measure them again.
    """
    layout = scan_image_folder(root)
    kind, size = _pipeline_and_size(layout, image_size)
    mean, std = _normalisation(layout, kind, size)
    return _info(name, layout, size, mean, std)


def image_folder_shape(name: str, root: Path, image_size: int | None = None) -> DatasetShape:
    """Classes and split sizes: the folder is listed and a few image headers read, no pixel decoded."""
    layout = scan_image_folder(root)
    _, size = _pipeline_and_size(layout, image_size)
    return DatasetShape(name, len(layout.classes), list(layout.classes), size, len(layout.train_samples),
                        len(layout.val_samples))  # fmt: skip


def _pipeline_and_size(layout: ImageFolderLayout, image_size: int | None) -> tuple[PipelineKind, int]:
    """The pipeline the images call for and the working size.

    The native size of small images is the largest side among the probed ones (images of
    other sizes are resized to that square).
    """
    indices = evenly_spaced_indices(len(layout.train_samples), SIZE_PROBE_IMAGES)
    dimensions = [image_dimensions(layout.train_samples[i][0]) for i in indices]
    largest_side = max(max(width, height) for width, height in dimensions)
    kind = pipeline_for(largest_side, largest_side)
    if image_size is not None:
        return kind, image_size
    return kind, largest_side if kind == "cifar" else IMAGENET_IMAGE_SIZE


def _normalisation(layout: ImageFolderLayout, kind: PipelineKind, size: int) -> tuple[Triple, Triple]:
    """Channel statistics of the training split at the working size: cached, or measured."""
    fingerprint = f"{kind}:{layout.train_fingerprint()}"
    cached = read_cached_statistics(layout.root, size, fingerprint)
    if cached is not None:
        return cached
    indices = evenly_spaced_indices(len(layout.train_samples), STATISTICS_SAMPLE_LIMIT)
    indices = within_pixel_budget(layout.train_samples, indices, DECODE_PIXEL_BUDGET)
    mean, std = channel_statistics(_measured_images(layout, indices, kind, size))
    write_cached_statistics(layout.root, size, fingerprint, mean, std, num_images=len(indices))
    return mean, std


def within_pixel_budget(samples: list[Sample], indices: list[int], budget: int) -> list[int]:
    """The first of ``indices`` whose images (by their headers) add up to at most ``budget`` pixels;
    at least one (an image is never over ``MAX_IMAGE_PIXELS``)."""
    kept: list[int] = []
    total = 0
    for index in indices:
        width, height = image_dimensions(samples[index][0])
        total += width * height
        if kept and total > budget:
            break
        kept.append(index)
    return kept


def check_decodable(layout: ImageFolderLayout, budget: int = DECODE_PIXEL_BUDGET) -> None:
    """Every image's header read (size within ``MAX_IMAGE_PIXELS``) and the validation images
    decoded, as many as ``budget`` pixels allow (spread over the split): DataError naming the
    first that cannot be used. The training images a job samples are decoded by the statistics."""
    for path, _ in (*layout.train_samples, *layout.val_samples):
        image_dimensions(path)
    indices = evenly_spaced_indices(len(layout.val_samples), len(layout.val_samples))
    for index in within_pixel_budget(layout.val_samples, indices, budget):
        load_rgb_image(layout.val_samples[index][0])


def _measured_images(
    layout: ImageFolderLayout, indices: list[int], kind: PipelineKind, size: int
) -> Iterator[torch.Tensor]:
    """The sampled training images as the evaluation transform sees them, unnormalised."""
    to_tensor = measuring_transform(kind, size)
    for index in indices:
        yield to_tensor(load_rgb_image(layout.train_samples[index][0]))  # (3, S, S)


def _info(name: str, layout: ImageFolderLayout, size: int, mean: Triple, std: Triple) -> DatasetInfo:
    return DatasetInfo(
        name=name,
        num_classes=len(layout.classes),
        classes=list(layout.classes),
        image_size=size,
        mean=mean,
        std=std,
        train_size=len(layout.train_samples),
        val_size=len(layout.val_samples),
    )
