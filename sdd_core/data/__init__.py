"""Datasets and their transforms: digits (offline), CIFAR-10/100, and uploaded image folders.

``build_datasets(name, data_root=...)`` returns (train set, val set, ``DatasetInfo``);
``describe_dataset`` returns the info alone, cheaply, to validate a job before training.
"""

from sdd_core.data.info import DatasetInfo
from sdd_core.data.registry import (
    IMAGE_FOLDER_PREFIX,
    build_datasets,
    describe_dataset,
    is_known_dataset,
    list_datasets,
)

__all__ = [
    "IMAGE_FOLDER_PREFIX",
    "DatasetInfo",
    "build_datasets",
    "describe_dataset",
    "is_known_dataset",
    "list_datasets",
]
