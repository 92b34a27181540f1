"""Training augmentation: what a job chose, and the small-image pipeline applied to a whole batch.

``Augmentation`` holds a job's choices (``flip``, ``crop_padding``, ``crop_scale_min``); both
data paths read them. The device-resident path (``tensor_batches.DeviceBatches``) augments
whole batches of uint8 images with ``crop_and_flip`` and normalises them with ``Normaliser``,
which is the CIFAR pipeline of the paper (random crop with zero padding ``size // 8``, then a
horizontal flip, then per-channel normalisation) done as a few tensor operations on the device
instead of PIL per image.

Every random number of an epoch is drawn up front by ``EpochDraws`` from one generator seeded
with the epoch's data seed: the permutation, then one crop offset pair and one flip per position
in the epoch. Batch ``i`` takes positions ``[i * B, (i + 1) * B)``, so a resumed epoch draws the
same numbers again and skips the batches already trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEFAULT_CROP_SCALE_MIN = 0.08
"""RandomResizedCrop's smallest area share in the ImageNet pipeline (torchvision's and the paper's)."""


def crop_padding(size: int) -> int:
    """Zero padding of the CIFAR pipeline's random crop: 4 pixels at 32, scaled with the size."""
    return size // 8


@dataclass(frozen=True)
class Augmentation:
    """A job's training augmentation; the defaults are the paper's pipelines.

    ``crop_padding`` None means ``size // 8`` (4 at 32 px); 0 turns the small-image crop off.
    ``crop_scale_min`` is the large-image (ImageNet pipeline) random resized crop's lower bound.
    """

    flip: bool = True
    crop_padding: int | None = None
    crop_scale_min: float = DEFAULT_CROP_SCALE_MIN

    def padding(self, size: int) -> int:
        """The small-image crop's zero padding at image side ``size``."""
        return crop_padding(size) if self.crop_padding is None else self.crop_padding

    def describe(self, size: int) -> dict[str, object]:
        """JSON-ready, as the model card records it."""
        return {"flip": self.flip, "crop_padding": self.padding(size), "crop_scale_min": self.crop_scale_min}


NO_AUGMENTATION = Augmentation(flip=False, crop_padding=0)


class Normaliser:
    """uint8 images (B, 3, H, W) -> float32 ``(x / 255 - mean) / std``, as one multiply-add."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> None:
        mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)  # (1, 3, 1, 1)
        self.shift = -mean_t / std_t  # (1, 3, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, images.float(), self.scale)  # (B, 3, H, W)


@dataclass(frozen=True)
class EpochDraws:
    """An epoch's random numbers: ``order`` (N,) sample indices, then per position in the epoch a
    crop offset ``offsets`` (N, 2) in [0, 2p] (top, left in the padded image) and ``flips`` (N,)."""

    order: torch.Tensor
    offsets: torch.Tensor | None
    flips: torch.Tensor | None

    @classmethod
    def draw(cls, count: int, *, seed: int | None, padding: int, flip: bool, device: torch.device) -> EpochDraws:
        """Shuffle and augmentation from ``seed`` (None: in order, no augmentation)."""
        if seed is None:
            return cls(torch.arange(count, device=device), None, None)
        generator = torch.Generator(device=device).manual_seed(seed)
        order = torch.randperm(count, generator=generator, device=device)
        offsets = torch.randint(0, 2 * padding + 1, (count, 2), generator=generator, device=device) if padding else None
        flips = torch.rand(count, generator=generator, device=device) < 0.5 if flip else None
        return cls(order, offsets, flips)


def crop_and_flip(
    images: torch.Tensor, offsets: torch.Tensor | None, flips: torch.Tensor | None, padding: int
) -> torch.Tensor:
    """A random crop with zero padding, then a horizontal flip, for every image of a batch at once.

    Args:
        images: (B, C, H, W), any dtype (uint8 here).
        offsets: (B, 2) top and left of each crop in the padded image, in [0, 2 * padding]; None: no crop.
        flips: (B,) True where the crop is mirrored; None: no flip.
        padding: zeros added on every side before cropping.
    Returns:
        (B, C, H, W): what ``RandomCrop(H, padding)`` then ``RandomHorizontalFlip`` give per image.
    """
    if offsets is None and flips is None:
        return images
    batch, channels, height, width = images.shape
    device = images.device
    if offsets is None:
        offsets = torch.full((batch, 2), padding, dtype=torch.long, device=device)
    padded = F.pad(images, [padding] * 4) if padding else images  # (B, C, H + 2p, W + 2p), zeros
    rows = offsets[:, :1] + torch.arange(height, device=device)  # (B, H): source row of each output row
    columns = torch.arange(width, device=device).expand(batch, width)  # (B, W)
    if flips is not None:
        columns = torch.where(flips[:, None], width - 1 - columns, columns)  # mirrored crop
    columns = columns + offsets[:, 1:]  # (B, W): source column of each output column
    picked_rows = padded.gather(2, rows[:, None, :, None].expand(batch, channels, height, padded.shape[3]))
    return picked_rows.gather(3, columns[:, None, None, :].expand(batch, channels, height, width))  # (B, C, H, W)
