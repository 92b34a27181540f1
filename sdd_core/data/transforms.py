"""The two image pipelines of the SDD paper and its code, as torchvision transforms.

- ``"cifar"``, for small images (both sides at most ``SMALL_IMAGE_MAX_SIDE``): resize to a square
  of the working size (a no-op at the native size), random crop with zero padding ``size // 8``
  (4 at 32 px, as in the paper), horizontal flip. Evaluation only resizes.
- ``"imagenet"``, for large images: ``RandomResizedCrop(size)`` and flip for training;
  ``Resize(size * 256 / 224)`` then ``CenterCrop(size)`` for evaluation (256 / 224 at 224).

All randomness comes from torch's global RNG, as torchvision's transforms draw from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torchvision.transforms as T

PipelineKind = Literal["cifar", "imagenet"]
PIPELINES: tuple[PipelineKind, ...] = ("cifar", "imagenet")

SMALL_IMAGE_MAX_SIDE = 64
"""Images whose sides are all at most this many pixels train at native size (CIFAR pipeline)."""

IMAGENET_IMAGE_SIZE = 224
"""Working size of the ImageNet pipeline unless a job overrides it."""


def pipeline_for(width: int, height: int) -> PipelineKind:
    """The pipeline an image of this size calls for: ``cifar`` if small, else ``imagenet``."""
    return "cifar" if max(width, height) <= SMALL_IMAGE_MAX_SIDE else "imagenet"


def crop_padding(size: int) -> int:
    """Zero padding of the CIFAR pipeline's random crop: 4 pixels at 32, scaled with the size."""
    return size // 8


def eval_resize_size(size: int) -> int:
    """Short side the ImageNet pipeline resizes to before its centre crop (256 for 224)."""
    return round(size * 256 / IMAGENET_IMAGE_SIZE)


def train_transform(kind: PipelineKind, size: int, mean: Sequence[float], std: Sequence[float]) -> T.Compose:
    """Augmenting PIL-to-tensor transform of the training split; yields (3, size, size)."""
    if kind == "cifar":
        geometry = [
            T.Resize((size, size)),
            T.RandomCrop(size, padding=crop_padding(size)),
            T.RandomHorizontalFlip(),
        ]
    else:
        geometry = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    return T.Compose([*geometry, T.ToTensor(), T.Normalize(list(mean), list(std))])


def eval_transform(kind: PipelineKind, size: int, mean: Sequence[float], std: Sequence[float]) -> T.Compose:
    """Deterministic PIL-to-tensor transform of the validation split; yields (3, size, size)."""
    return T.Compose([*_eval_geometry(kind, size), T.ToTensor(), T.Normalize(list(mean), list(std))])


def measuring_transform(kind: PipelineKind, size: int) -> T.Compose:
    """The evaluation view without normalisation, in [0, 1]: what channel statistics are taken of."""
    return T.Compose([*_eval_geometry(kind, size), T.ToTensor()])


def _eval_geometry(kind: PipelineKind, size: int) -> list[object]:
    if kind == "cifar":
        return [T.Resize((size, size))]
    return [T.Resize(eval_resize_size(size)), T.CenterCrop(size)]
