"""``DatasetShape`` and ``DatasetInfo``: what checking a job, a model and a model card need to know about a dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

Triple = tuple[float, float, float]
"""One float per channel (R, G, B): a mean or a std."""


@dataclass(frozen=True)
class DatasetShape:
    """A dataset's classes and how many images of what size: what checking a job needs, known
    without decoding or resizing a single image (``registry.dataset_shape``)."""

    name: str
    num_classes: int
    classes: list[str]
    image_size: int
    """The side of the square tensors both the train and the val set yield."""
    train_size: int
    val_size: int


@dataclass(frozen=True)
class DatasetInfo(DatasetShape):
    """A built dataset's shape and its normalisation: ``mean`` and ``std`` are the per-channel
    statistics the transforms actually normalise with."""

    mean: Triple
    std: Triple

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        data["mean"] = [float(v) for v in self.mean]
        data["std"] = [float(v) for v in self.std]
        return data
