"""Datasets and their transforms: digits (offline), CIFAR-10/100, uploaded image folders, and
datasets stored as WebDataset shards (``shards:<index.json>``).

``build_datasets(name, data_root=...)`` returns (train set, val set, ``DatasetInfo``) for a
DataLoader; ``build_image_tensors`` the same splits of small images as uint8 tensors to hold on
the training device; ``describe_dataset`` returns the info alone, cheaply, to validate a job
before training; ``dataset_shape`` its classes and sizes only, without touching an image;
``dataset_identity`` what names the data in a checkpoint.

The names (``names``) and the info classes load with the package; everything that needs torch
loads when first used (``sdd_core.lazy_exports``), so the REST API starts without it.
"""

from typing import TYPE_CHECKING

from sdd_core.data.info import DatasetInfo, DatasetShape
from sdd_core.data.names import (
    IMAGE_FOLDER_PREFIX,
    SHARDS_PREFIX,
    flips_by_default,
    is_known_dataset,
    is_sharded,
    list_datasets,
)
from sdd_core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sdd_core.data.augmentation import Augmentation
    from sdd_core.data.image_tensors import ImageTensors
    from sdd_core.data.registry import (
        build_datasets,
        build_image_tensors,
        dataset_identity,
        dataset_pipeline,
        dataset_shape,
        describe_dataset,
    )
else:  # at run time each name loads its module when first read
    __getattr__ = lazy_exports(
        __name__,
        {
            "augmentation": ["Augmentation"],
            "image_tensors": ["ImageTensors"],
            "registry": [
                "build_datasets",
                "build_image_tensors",
                "dataset_identity",
                "dataset_pipeline",
                "dataset_shape",
                "describe_dataset",
            ],
        },
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
