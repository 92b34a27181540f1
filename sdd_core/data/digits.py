"""scikit-learn's 8x8 handwritten digits, served as a tiny offline CIFAR-like dataset.

1797 images, 10 classes, shipped with scikit-learn (no download). The images are scaled from
0..16 to 0..1, upsampled (bilinear) to 32x32 (or the size a job asks for) and replicated to
three channels. The train/val split is fixed (stratified 80/20, ``random_state=0``) and does not
depend on any seed, so every job sees the same split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from sdd_core.data.augmentation import Augmentation
from sdd_core.data.image_tensors import ImageTensors
from sdd_core.data.info import DatasetInfo, DatasetShape
from sdd_core.data.names import DIGITS_FLIP, DIGITS_NAME
from sdd_core.data.statistics import Triple, channel_statistics

DIGITS_NATURAL_SIZE = 32
DIGITS_CLASSES = [str(digit) for digit in range(10)]
VAL_FRACTION = 0.2
SPLIT_RANDOM_STATE = 0
DIGITS_TRAIN_SIZE, DIGITS_VAL_SIZE = 1437, 360
"""The split's sizes (1,797 images, 20 % for val rounded up as scikit-learn rounds), known without
loading anything (``digits_shape``); tests/sdd_core/data/test_digits.py checks them against the split."""


class DigitsDataset(Dataset):
    """Digit images held in one tensor; items are ((3, S, S) normalised image, int label).

    Training augmentation is a random crop with zero padding ``S // 8`` (4 at 32 px), done by
    slicing a pre-padded tensor, so an item costs no PIL conversion. By default there is no
    horizontal flip: a mirrored digit is not a digit of its class (a mirrored 2, 3, 4, 7 or 9 is
    no digit at all), so flipping would teach the model label noise rather than an invariance.
    A job may still ask for one (``augmentation.flip``).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: float,
        std: float,
        *,
        augment: bool,
        augmentation: Augmentation | None = None,
    ) -> None:
        """``images`` (N, 1, S, S) in [0, 1]; ``labels`` (N,) ints; ``mean``/``std`` normalise."""
        augmentation = augmentation or Augmentation(flip=DIGITS_FLIP)
        self.image_size = images.shape[-1]
        self.padding = augmentation.padding(self.image_size) if augment else 0
        self.flip = augment and augmentation.flip
        self.augment = augment
        padded = F.pad(images, [self.padding] * 4)  # (N, 1, S + 2p, S + 2p), zero = black
        self._images = ((padded - mean) / std).contiguous()
        self._labels = labels.clone()
        self.targets: list[int] = labels.tolist()
        self.classes = list(DIGITS_CLASSES)

    def __len__(self) -> int:
        return self._images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        size, padding = self.image_size, self.padding
        if padding and self.augment:
            top, left = torch.randint(0, 2 * padding + 1, (2,)).tolist()
        else:  # centred: the image itself (an evaluation view of the padded training images)
            top = left = padding
        crop = self._images[index, :, top : top + size, left : left + size]  # (1, S, S)
        if self.flip and torch.rand(1).item() < 0.5:
            crop = crop.flip(-1)
        return crop.expand(3, size, size).contiguous(), int(self._labels[index])  # (3, S, S)


def build_digits(
    image_size: int | None = None, augmentation: Augmentation | None = None
) -> tuple[DigitsDataset, DigitsDataset, DatasetInfo]:
    """(augmented train set, val set, info) of the digits at ``image_size`` (default 32)."""
    size = image_size or DIGITS_NATURAL_SIZE
    train_images, train_labels, val_images, val_labels = _load_split(size)
    mean, std = _statistics(train_images)
    train = DigitsDataset(train_images, train_labels, mean[0], std[0], augment=True, augmentation=augmentation)
    val = DigitsDataset(val_images, val_labels, mean[0], std[0], augment=False)
    return train, val, _info(size, mean, std, len(train), len(val))


def digits_tensors(image_size: int | None = None) -> tuple[ImageTensors, ImageTensors, DatasetInfo]:
    """The digits as uint8 RGB tensors (the device-resident path): (train, val, info).

    The float images (bilinear upsampling makes them fractional) are rounded to 1/255 steps;
    ``info`` is ``build_digits``'s, statistics included.
    """
    size = image_size or DIGITS_NATURAL_SIZE
    train_images, train_labels, val_images, val_labels = _load_split(size)
    mean, std = _statistics(train_images)

    def as_uint8(images: torch.Tensor) -> torch.Tensor:
        rgb = images.expand(-1, 3, -1, -1)  # (N, 1, S, S) -> (N, 3, S, S)
        return (rgb * 255).round().to(torch.uint8).contiguous()

    train = ImageTensors(as_uint8(train_images), train_labels)
    val = ImageTensors(as_uint8(val_images), val_labels)
    return train, val, _info(size, mean, std, len(train), len(val))


def digits_shape(image_size: int | None = None) -> DatasetShape:
    """Classes and split sizes at ``image_size`` (default 32): constants, no image is loaded or resized."""
    size = image_size or DIGITS_NATURAL_SIZE
    return DatasetShape(
        DIGITS_NAME, len(DIGITS_CLASSES), list(DIGITS_CLASSES), size, DIGITS_TRAIN_SIZE, DIGITS_VAL_SIZE
    )


def describe_digits(image_size: int | None = None) -> DatasetInfo:
    """The info ``build_digits`` would return (the statistics need the images, which are tiny)."""
    size = image_size or DIGITS_NATURAL_SIZE
    train_images, _, val_images, _ = _load_split(size)
    mean, std = _statistics(train_images)
    return _info(size, mean, std, train_images.shape[0], val_images.shape[0])


def _load_split(size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train images (N, 1, S, S) in [0, 1], train labels (N,), then the same for val."""
    # Imported here: scikit-learn takes a second and a half to import, and every process that
    # names a dataset (the API, each worker, each test) would pay it without loading the digits.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0  # (1797, 1, 8, 8)
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = images.clamp(0.0, 1.0)  # (1797, 1, S, S)
    labels = torch.from_numpy(digits.target).long()  # (1797,)
    train_idx, val_idx = train_test_split(
        torch.arange(len(labels)).numpy(),
        test_size=VAL_FRACTION,
        stratify=labels.numpy(),
        random_state=SPLIT_RANDOM_STATE,
    )
    train_idx, val_idx = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]


def _statistics(train_images: torch.Tensor) -> tuple[Triple, Triple]:
    """Channel statistics of the training split (the three channels are copies of one)."""
    return channel_statistics([train_images.expand(-1, 3, -1, -1)])  # (N, 3, S, S)


def _info(size: int, mean: Triple, std: Triple, train_size: int, val_size: int) -> DatasetInfo:
    return DatasetInfo(
        name=DIGITS_NAME,
        num_classes=len(DIGITS_CLASSES),
        classes=list(DIGITS_CLASSES),
        image_size=size,
        mean=mean,
        std=std,
        train_size=train_size,
        val_size=val_size,
    )
