"""The two image pipelines of the SDD paper and its code, as torchvision transforms.

- ``"cifar"``, for small images (both sides at most ``SMALL_IMAGE_MAX_SIDE``): resize to a square
  of the working size (a no-op at the native size), random crop with zero padding ``size // 8``
  (4 at 32 px, as in the paper), horizontal flip. Evaluation only resizes. PIL images in: at
  32 px PIL's per-image transforms cost 2/3 of torchvision v2's tensor ones on this project's CPU.
- ``"imagenet"``, for large images: ``RandomResizedCrop(size)`` and flip for training;
  ``Resize(size * 256 / 224)`` then ``CenterCrop(size)`` for evaluation (256 / 224 at 224). uint8
  tensors (3, H, W) in, decoded by ``image_codecs`` (``image_decoding.load_rgb_tensor``): decode
  and v2 transforms together run 1.6x PIL's pipeline on a 500 px JPEG (one thread, as in a loader
  worker).

Both yield normalised float tensors (3, size, size). The flip, the crop padding and the resized
crop's scale are the job's choice (``Augmentation``). These serve the loader path; the
device-resident path does the CIFAR pipeline on whole batches (``augmentation.crop_and_flip``).
All randomness comes from torch's global RNG, as torchvision's transforms draw from it; the loader
seeds it per sample (``loader_batches.SeededItems``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torchvision.transforms as T
import torchvision.transforms.v2 as v2

from sdd_core.data.augmentation import Augmentation, crop_padding

__all__ = [
    "IMAGENET_IMAGE_SIZE",
    "PIPELINES",
    "SMALL_IMAGE_MAX_SIDE",
    "PipelineKind",
    "crop_padding",
    "eval_resize_size",
    "eval_transform",
    "measuring_transform",
    "pipeline_for",
    "train_transform",
]

PipelineKind = Literal["cifar", "imagenet"]
PIPELINES: tuple[PipelineKind, ...] = ("cifar", "imagenet")

SMALL_IMAGE_MAX_SIDE = 64
"""Images whose sides are all at most this many pixels train at native size (CIFAR pipeline)."""

IMAGENET_IMAGE_SIZE = 224
"""Working size of the ImageNet pipeline unless a job overrides it."""


def pipeline_for(width: int, height: int) -> PipelineKind:
    """The pipeline an image of this size calls for: ``cifar`` if small, else ``imagenet``."""
    return "cifar" if max(width, height) <= SMALL_IMAGE_MAX_SIDE else "imagenet"


def eval_resize_size(size: int) -> int:
    """Short side the ImageNet pipeline resizes to before its centre crop (256 for 224)."""
    return round(size * 256 / IMAGENET_IMAGE_SIZE)


def train_transform(
    kind: PipelineKind,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    augmentation: Augmentation | None = None,
) -> T.Compose | v2.Compose:
    """Augmenting transform of the training split (PIL in for ``cifar``, uint8 tensor for
    ``imagenet``); yields (3, size, size)."""
    augmentation = augmentation or Augmentation()
    if kind == "cifar":
        padding = augmentation.padding(size)
        geometry: list[object] = [T.Resize((size, size))]
        geometry += [T.RandomCrop(size, padding=padding)] if padding else []
        geometry += [T.RandomHorizontalFlip()] if augmentation.flip else []
        return T.Compose([*geometry, T.ToTensor(), T.Normalize(list(mean), list(std))])
    crops: list[torch.nn.Module] = [
        v2.RandomResizedCrop(size, scale=(augmentation.crop_scale_min, 1.0), antialias=True)
    ]
    crops += [v2.RandomHorizontalFlip()] if augmentation.flip else []
    return v2.Compose([*crops, *_to_normalised(mean, std)])


def eval_transform(
    kind: PipelineKind, size: int, mean: Sequence[float], std: Sequence[float]
) -> T.Compose | v2.Compose:
    """Deterministic transform of the validation split (input as ``train_transform``'s); yields (3, size, size)."""
    if kind == "cifar":
        return T.Compose([T.Resize((size, size)), T.ToTensor(), T.Normalize(list(mean), list(std))])
    geometry: list[torch.nn.Module] = [v2.Resize(eval_resize_size(size), antialias=True), v2.CenterCrop(size)]
    return v2.Compose([*geometry, *_to_normalised(mean, std)])


def _to_normalised(mean: Sequence[float], std: Sequence[float]) -> list[torch.nn.Module]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std)), v2.ToPureTensor()]


def measuring_transform(kind: PipelineKind, size: int) -> T.Compose:
    """The evaluation view of a PIL image without normalisation, in [0, 1]: what channel statistics
    are taken of (PIL's resampling, as when the cached statistics were first measured)."""
    if kind == "cifar":
        geometry: list[object] = [T.Resize((size, size))]
    else:
        geometry = [T.Resize(eval_resize_size(size)), T.CenterCrop(size)]
    return T.Compose([*geometry, T.ToTensor()])
