"""``DatasetInfo``: what a model and a model card need to know about a dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a built dataset: classes, the image size the model sees, its normalisation.

    ``mean`` and ``std`` are the per-channel statistics the transforms actually normalise with;
    ``image_size`` is the side of the square tensors both the train and the val set yield.
    """

    name: str
    num_classes: int
    classes: list[str]
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    train_size: int
    val_size: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["classes"] = list(self.classes)
        data["mean"] = [float(v) for v in self.mean]
        data["std"] = [float(v) for v in self.std]
        return data
