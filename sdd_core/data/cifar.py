"""CIFAR-10 and CIFAR-100 through torchvision, in torchvision's layout under ``data_root``.

The validation split is the official test set (10,000 images), as in the SDD paper and its code.
Normalisation uses the widely reported per-channel statistics of each training set.
"""

from __future__ import annotations

import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10, CIFAR100
from torchvision.datasets.utils import check_integrity, download_and_extract_archive

from sdd_core.data.augmentation import Augmentation
from sdd_core.data.image_tensors import ImageTensors, resized_batch
from sdd_core.data.info import DatasetInfo
from sdd_core.data.names import CIFAR10_NAME, CIFAR100_NAME
from sdd_core.data.statistics import Triple
from sdd_core.data.transforms import eval_transform, train_transform
from sdd_core.errors import DataError, DatasetNotDownloaded

CIFAR_NATURAL_SIZE = 32


@dataclass(frozen=True)
class CifarVariant:
    """One of the two CIFAR datasets: its torchvision class and normalisation."""

    name: str
    title: str
    dataset_class: type[CIFAR10]
    mean: Triple
    std: Triple
    train_size: int = 50_000
    val_size: int = 10_000

    def folder(self, data_root: Path) -> Path:
        """Where torchvision keeps the extracted batches under ``data_root``."""
        return data_root / self.dataset_class.base_folder

    def file_names(self) -> list[str]:
        """The files the extracted archive holds (batches and meta)."""
        batches = self.dataset_class.train_list + self.dataset_class.test_list
        return [name for name, _ in batches] + [self.dataset_class.meta["filename"]]


CIFAR_VARIANTS: dict[str, CifarVariant] = {
    CIFAR10_NAME: CifarVariant(
        name=CIFAR10_NAME,
        title="CIFAR-10",
        dataset_class=CIFAR10,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    ),
    CIFAR100_NAME: CifarVariant(  # the SDD paper's statistics
        name=CIFAR100_NAME,
        title="CIFAR-100",
        dataset_class=CIFAR100,
        mean=(0.5071, 0.4867, 0.4408),
        std=(0.2675, 0.2565, 0.2761),
    ),
}


def build_cifar(
    name: str,
    data_root: Path,
    image_size: int | None = None,
    download: bool = False,
    augmentation: Augmentation | None = None,
) -> tuple[CIFAR10, CIFAR10, DatasetInfo]:
    """(augmented train set, val set, info); ``image_size`` other than 32 resizes the images."""
    variant = CIFAR_VARIANTS[name]
    size = image_size or CIFAR_NATURAL_SIZE
    _ensure_available(variant, data_root, download)
    train = _load(variant, data_root, True, train_transform("cifar", size, variant.mean, variant.std, augmentation))
    val = _load(variant, data_root, False, eval_transform("cifar", size, variant.mean, variant.std))
    info = _info(variant, list(train.classes), size, len(train), len(val))
    return train, val, info


def cifar_tensors(
    name: str, data_root: Path, image_size: int | None = None, download: bool = False
) -> tuple[ImageTensors, ImageTensors, DatasetInfo]:
    """Both splits as uint8 tensors (the device-resident path), resized once if ``image_size`` asks."""
    variant = CIFAR_VARIANTS[name]
    size = image_size or CIFAR_NATURAL_SIZE
    _ensure_available(variant, data_root, download)
    splits = []
    for train in (True, False):
        dataset = _load(variant, data_root, train, None)
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) -> (N, 3, 32, 32)
        splits.append((ImageTensors(resized_batch(images, size), torch.tensor(dataset.targets)), dataset))
    (train_split, train_set), (val_split, _) = splits
    return train_split, val_split, _info(variant, list(train_set.classes), size, len(train_split), len(val_split))


def describe_cifar(name: str, data_root: Path, image_size: int | None = None, download: bool = False) -> DatasetInfo:
    """The dataset's info from its small meta file, without loading the batches.

    The sizes are the official ones (50,000 / 10,000): torchvision checks every batch against
    its md5 when building, so a dataset that builds has exactly these.
    """
    variant = CIFAR_VARIANTS[name]
    _ensure_available(variant, data_root, download)
    classes = _read_class_names(variant, data_root)
    size = image_size or CIFAR_NATURAL_SIZE
    return _info(variant, classes, size, variant.train_size, variant.val_size)


def _ensure_available(variant: CifarVariant, data_root: Path, download: bool) -> None:
    """Download the archive if allowed and needed; DataError if the files are not there."""
    folder = variant.folder(data_root)
    missing = [name for name in variant.file_names() if not (folder / name).is_file()]
    if not missing:
        return
    if not download:
        raise DatasetNotDownloaded(variant.title, missing, folder, data_root, variant.dataset_class.url)
    cls = variant.dataset_class
    try:
        download_and_extract_archive(cls.url, str(data_root), filename=cls.filename, md5=cls.tgz_md5)
    except (OSError, RuntimeError, ValueError, tarfile.TarError) as exc:
        raise DataError(f"could not download {variant.title} into {data_root}: {exc}") from exc


def _load(variant: CifarVariant, data_root: Path, train: bool, transform: object) -> CIFAR10:
    """torchvision's dataset (which verifies every file's md5); DataError if it cannot load."""
    try:
        return variant.dataset_class(str(data_root), train=train, transform=transform, download=False)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError) as exc:
        raise DataError(
            f"{variant.title} in {variant.folder(data_root)} is corrupted or incomplete ({exc}); "
            "delete that folder and download it again."
        ) from exc


def _read_class_names(variant: CifarVariant, data_root: Path) -> list[str]:
    """Class names from the dataset's meta file, checked against its md5 first."""
    meta = variant.dataset_class.meta
    path = variant.folder(data_root) / meta["filename"]
    if not check_integrity(str(path), meta["md5"]):
        raise DataError(
            f"{variant.title} meta file {path} is corrupted (md5 mismatch); delete its folder and download it again."
        )
    with open(path, "rb") as stream:
        return list(pickle.load(stream, encoding="latin1")[meta["key"]])


def _info(variant: CifarVariant, classes: list[str], size: int, train_size: int, val_size: int) -> DatasetInfo:
    return DatasetInfo(
        name=variant.name,
        num_classes=len(classes),
        classes=classes,
        image_size=size,
        mean=variant.mean,
        std=variant.std,
        train_size=train_size,
        val_size=val_size,
    )
