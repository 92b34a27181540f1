"""Datasets and their transforms: digits (offline), CIFAR-10/100, uploaded image folders, and
datasets stored as WebDataset shards (``shards:<index.json>``).

``build_datasets(name, data_root=...)`` returns (train set, val set, ``DatasetInfo``) for a
DataLoader; ``build_image_tensors`` the same splits of small images as uint8 tensors to hold on
the training device; ``describe_dataset`` returns the info alone, cheaply, to validate a job
before training; ``dataset_shape`` its classes and sizes only, without touching an image;
``dataset_identity`` what names the data in a checkpoint.
"""

from sdd_core.data.augmentation import Augmentation
from sdd_core.data.image_tensors import ImageTensors
from sdd_core.data.info import DatasetInfo, DatasetShape
from sdd_core.data.registry import (
    IMAGE_FOLDER_PREFIX,
    SHARDS_PREFIX,
    build_datasets,
    build_image_tensors,
    dataset_identity,
    dataset_pipeline,
    dataset_shape,
    describe_dataset,
    flips_by_default,
    is_known_dataset,
    is_sharded,
    list_datasets,
)

__all__ = [
    "IMAGE_FOLDER_PREFIX",
    "SHARDS_PREFIX",
    "Augmentation",
    "DatasetInfo",
    "DatasetShape",
    "ImageTensors",
    "build_datasets",
    "build_image_tensors",
    "dataset_identity",
    "dataset_pipeline",
    "dataset_shape",
    "describe_dataset",
    "flips_by_default",
    "is_known_dataset",
    "is_sharded",
    "list_datasets",
]
