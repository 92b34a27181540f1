"""What each dataset name holds, and the entry points: ``build_datasets``, ``describe_dataset``,
``dataset_shape``, ``build_image_tensors``, ``dataset_identity``.

Names (``names``): the built-ins ``cifar10``, ``cifar100`` and ``digits``, ``imagefolder:<path>`` for a
folder with ``train/<class>/`` and ``val/<class>/`` inside, or ``shards:<path>`` for a dataset
stored as WebDataset shards (``<path>``: its ``index.json`` or the folder holding it; see
``sharded_dataset``). A relative ``<path>`` is taken relative to ``data_root``, so a worker's
result does not depend on its working directory. A sharded dataset's shards come from
``fetch_shard`` when given (the service's node cache), else from beside its index.

``build_datasets`` gives map-style datasets of normalised images for a DataLoader (the loader
path); ``build_image_tensors`` gives small-image datasets as uint8 tensors to hold on the
training device (the device-resident path); ``dataset_pipeline`` says which pipeline a dataset's
images call for, which decides whether the second is possible. ``dataset_shape`` answers what
checking a job needs (classes, sizes) at a cost that does not grow with the image size a request
names: a service checks every submission with it.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from sdd_core.data.augmentation import Augmentation
from sdd_core.data.cifar import CIFAR_VARIANTS, build_cifar, cifar_tensors, describe_cifar
from sdd_core.data.digits import build_digits, describe_digits, digits_shape, digits_tensors
from sdd_core.data.image_folder import (
    build_image_folder,
    describe_image_folder,
    image_folder_pipeline,
    image_folder_shape,
    image_folder_tensors,
)
from sdd_core.data.image_tensors import ImageTensors
from sdd_core.data.info import DatasetInfo, DatasetShape
from sdd_core.data.names import (
    DIGITS_NAME,
    IMAGE_FOLDER_PREFIX,
    SHARDS_PREFIX,
    is_known_dataset,
    is_sharded,
    list_datasets,
)
from sdd_core.data.sharded_dataset import (
    build_shards,
    describe_shards,
    shards_identity,
    shards_pipeline,
    shards_shape,
    shards_tensors,
)
from sdd_core.data.shards import FetchShard
from sdd_core.data.transforms import PipelineKind
from sdd_core.errors import DataError

MIN_IMAGE_SIZE = 8


def dataset_identity(name: str, *, data_root: str | Path) -> str:
    """What names the data a run trained on, for its checkpoint: a sharded dataset's index digest
    (``shards@sha256:<hex>``: the same on every node, wherever its copy lies), else the name."""
    if is_sharded(name):
        return shards_identity(name, Path(data_root).expanduser())
    return name


def build_datasets(
    name: str,
    *,
    data_root: str | Path,
    image_size: int | None = None,
    download: bool = False,
    augmentation: Augmentation | None = None,
    fetch_shard: FetchShard | None = None,
) -> tuple[Dataset, Dataset, DatasetInfo]:
    """(train set with augmentation, val set with the eval transform, info).

    Items are ``(image, label)``: a normalised float tensor (3, S, S) with S = ``info.image_size``
    and an int. ``image_size=None`` keeps the dataset's natural size. ``augmentation`` None is
    the dataset's default (the paper's pipelines; no flip for digits). ``download`` only matters
    for CIFAR, ``fetch_shard`` for a sharded dataset. Raises DataError for an unknown name or a
    missing, malformed or unreadable dataset.
    """
    _check_request(name, image_size)
    root = Path(data_root).expanduser()
    if name == DIGITS_NAME:
        return build_digits(image_size, augmentation)
    if name in CIFAR_VARIANTS:
        return build_cifar(name, root, image_size, download, augmentation)
    if is_sharded(name):
        return build_shards(name, root, image_size, augmentation, fetch_shard)
    return build_image_folder(name, image_folder_path(name, root), image_size, augmentation)


def dataset_pipeline(name: str, *, data_root: str | Path, image_size: int | None = None) -> PipelineKind:
    """``cifar`` (small images: ``build_image_tensors`` can hold them) or ``imagenet`` (large images)."""
    _check_request(name, image_size)
    if name == DIGITS_NAME or name in CIFAR_VARIANTS:
        return "cifar"
    if is_sharded(name):
        return shards_pipeline(name, Path(data_root).expanduser())
    return image_folder_pipeline(image_folder_path(name, Path(data_root).expanduser()), image_size)


def build_image_tensors(
    name: str,
    *,
    data_root: str | Path,
    image_size: int | None = None,
    download: bool = False,
    fetch_shard: FetchShard | None = None,
) -> tuple[ImageTensors, ImageTensors, DatasetInfo]:
    """(train split, val split, info) of a small-image dataset as uint8 tensors, unaugmented and
    unnormalised (``info`` holds the statistics), each image decoded once. ValueError for a
    dataset of large images (``dataset_pipeline`` is ``imagenet``); DataError as ``build_datasets``.
    """
    _check_request(name, image_size)
    root = Path(data_root).expanduser()
    if name == DIGITS_NAME:
        return digits_tensors(image_size)
    if name in CIFAR_VARIANTS:
        return cifar_tensors(name, root, image_size, download)
    if is_sharded(name):
        return shards_tensors(name, root, image_size, fetch_shard)
    return image_folder_tensors(name, image_folder_path(name, root), image_size)


def describe_dataset(
    name: str,
    *,
    data_root: str | Path,
    image_size: int | None = None,
    download: bool = False,
) -> DatasetInfo:
    """The info ``build_datasets`` would return, as cheaply as possible (no dataset is built).

    Still fails like ``build_datasets`` on a missing or malformed dataset, so a job can be
    refused before training starts.
    """
    _check_request(name, image_size)
    root = Path(data_root).expanduser()
    if name == DIGITS_NAME:
        return describe_digits(image_size)
    if name in CIFAR_VARIANTS:
        return describe_cifar(name, root, image_size, download)
    if is_sharded(name):
        return describe_shards(name, root, image_size)
    return describe_image_folder(name, image_folder_path(name, root), image_size)


def dataset_shape(
    name: str,
    *,
    data_root: str | Path,
    image_size: int | None = None,
    download: bool = False,
) -> DatasetShape:
    """Classes and split sizes at the working size, with no image decoded, resized or measured.

    Fails like ``describe_dataset`` on a missing or malformed dataset (CIFAR's files, an image
    folder's layout); an image folder's few probed headers decide its working size.
    """
    _check_request(name, image_size)
    root = Path(data_root).expanduser()
    if name == DIGITS_NAME:
        return digits_shape(image_size)
    if name in CIFAR_VARIANTS:
        return describe_cifar(name, root, image_size, download)  # statistics are constants: as cheap
    if is_sharded(name):
        return shards_shape(name, root, image_size)
    return image_folder_shape(name, image_folder_path(name, root), image_size)


def image_folder_path(name: str, data_root: Path) -> Path:
    """The folder an ``imagefolder:<path>`` name points to (relative paths under ``data_root``)."""
    path = Path(name[len(IMAGE_FOLDER_PREFIX) :].strip()).expanduser()
    return path if path.is_absolute() else data_root / path


def _check_request(name: str, image_size: int | None) -> None:
    if not is_known_dataset(name):
        raise DataError(
            f"unknown dataset {name!r}; use one of {', '.join(list_datasets())}, "
            f"{IMAGE_FOLDER_PREFIX}<path to a folder with train/ and val/> "
            f"or {SHARDS_PREFIX}<path to a shard index.json>"
        )
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE
    ):
        raise DataError(f"image_size must be an integer of at least {MIN_IMAGE_SIZE} pixels, got {image_size!r}")
