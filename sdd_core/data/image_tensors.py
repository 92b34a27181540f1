"""A split held as tensors, ready to live on the training device: ``ImageTensors``.

The device-resident data path keeps a whole split of small images as one uint8 tensor
(N, 3, H, W) with its int64 labels (N,): CIFAR-100's 50,000 training images take 150 MB. Each
dataset builds it once per job (``registry.build_image_tensors``): digits from their float
images, CIFAR from torchvision's arrays, an image folder by decoding every file once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torchvision.transforms.v2.functional import resize


@dataclass(frozen=True)
class ImageTensors:
    """uint8 images (N, 3, H, W) and int64 labels (N,) of one split."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be (N,) for N = {self.images.shape[0]}, got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def nbytes(self) -> int:
        return self.images.nbytes + self.labels.nbytes

    def to(self, device: torch.device) -> ImageTensors:
        return ImageTensors(self.images.to(device), self.labels.to(device))


def split_bytes(count: int, size: int) -> int:
    """Bytes ``count`` square RGB images of side ``size`` take as ``ImageTensors``."""
    return count * (3 * size * size + 8)


def stacked_at_size(images: Iterable[torch.Tensor], size: int) -> torch.Tensor:
    """uint8 images (3, h, w) of any sizes -> one (N, 3, size, size) tensor, each resized (bilinear,
    antialiased, as the loader's ``Resize((size, size))``) only when its size differs."""
    out = [
        image if image.shape[-2:] == (size, size) else resize(image, [size, size], antialias=True) for image in images
    ]
    if not out:
        return torch.empty(0, 3, size, size, dtype=torch.uint8)
    return torch.stack(out)  # (N, 3, size, size)


def resized_batch(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, 3, size, size) uint8, resized in chunks (a no-op at that size)."""
    if images.shape[-2:] == (size, size):
        return images
    parts = [resize(images[i : i + chunk], [size, size], antialias=True) for i in range(0, images.shape[0], chunk)]
    return torch.cat(parts) if parts else images.new_empty(0, 3, size, size)
