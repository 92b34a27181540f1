"""Large JPEG images decoded where the model runs: nvJPEG on CUDA, the same code on the CPU.

On the loader path a large-image folder is otherwise decoded and cropped in the loader's worker
processes. When the training device is a GPU and every file of the folder is a JPEG, the workers
only read each file's bytes (``EncodedImages``: the header is checked against the pixel cap, no
pixel is decoded) and the training process decodes the whole batch on the device in one call of
``image_codecs.decode_jpegs_rgb`` (nvJPEG), then crops, resizes, flips and normalises every image
there (``DeviceDecoder``). The pipeline is the ImageNet one of ``transforms``: a random resized
crop (area share from the job's ``crop_scale_min`` to 1, aspect ratio 3/4 to 4/3) and a flip for
training, resize to ``size * 256 / 224`` then centre crop for evaluation.

Exact resume holds as on the rest of the loader path: each item's augmentation seed is drawn in
the worker from its per-sample seed (``loader_batches.SeededItems``), and every draw of that item
comes from a generator seeded with it, so an image's crop depends on (seed, epoch, position) only.
The CPU runs the same code (the same decoder on the CPU), which is how it is tested without a GPU.

A sharded dataset's workers read each image's bytes from its shard instead (``EncodedShardImages``).
A shard's members may be of any format, which its index does not list: the rare image that is not
a JPEG is decoded in the worker (``image_codecs``, as the workers' pipeline decodes it) and only
cropped and resized on the device, where the JPEGs of its batch are decoded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from sdd_core.data.augmentation import Augmentation, Normaliser
from sdd_core.data.image_bytes import checked_encoded, rgb_tensor
from sdd_core.data.image_codecs import decode_jpegs_rgb
from sdd_core.data.image_decoding import read_encoded
from sdd_core.data.image_folder_layout import Sample
from sdd_core.data.shards import ShardedImages
from sdd_core.data.tensor_batches import Batch
from sdd_core.data.transforms import eval_resize_size

JPEG_EXTENSIONS = (".jpg", ".jpeg")
CROP_RATIO = (3 / 4, 4 / 3)
"""Aspect ratios (width / height) of the random resized crop, as torchvision's and the paper's."""
CROP_ATTEMPTS = 10
"""Random boxes tried before falling back to the centred largest box of an allowed ratio."""
ITEM_SEED_BOUND = 2**62

EncodedBatch = tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]
"""(encoded files, each (n,) uint8, or an image decoded in the worker, (3, H, W) uint8; labels (B,)
int64; item seeds (B,) int64), as the loader yields them."""


def all_jpeg(samples: Sequence[Sample]) -> bool:
    """True when every file of ``samples`` is a JPEG by its name (the only format nvJPEG decodes)."""
    return bool(samples) and all(Path(path).suffix.lower() in JPEG_EXTENSIONS for path, _ in samples)


def device_decode_wanted(setting: bool | None, device: torch.device) -> bool:
    """Decode on the device: as ``setting`` says, else (None) exactly when the device is a GPU."""
    return device.type == "cuda" if setting is None else setting


class EncodedImages(Dataset):
    """Image files as their bytes: items are (encoded file (n,) uint8, label, item seed).

    The item seed is drawn from torch's global RNG, which the loader seeds per sample.
    """

    def __init__(self, samples: Sequence[Sample]) -> None:
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        path, label = self.samples[index]
        seed = int(torch.randint(0, ITEM_SEED_BOUND, ()).item())
        return read_encoded(Path(path)), label, seed


class EncodedShardImages(Dataset):
    """A sharded split's images as their bytes: items as ``EncodedImages``'s, a JPEG's bytes
    (header checked against the pixel cap) or another format's decoded uint8 (3, H, W)."""

    def __init__(self, images: ShardedImages) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        seed = int(torch.randint(0, ITEM_SEED_BOUND, ()).item())
        data, extension, label, where = self.images.encoded(index)
        if f".{extension}" in JPEG_EXTENSIONS:
            return checked_encoded(data, where), label, seed
        return rgb_tensor(data, extension, where), label, seed


def collate_encoded(items: list[tuple[torch.Tensor, int, int]]) -> EncodedBatch:
    """Files of different lengths stay a list; labels and seeds become tensors."""
    return (
        [data for data, _, _ in items],
        torch.tensor([label for _, label, _ in items], dtype=torch.long),
        torch.tensor([seed for _, _, seed in items], dtype=torch.long),
    )


def resized_crop_box(
    height: int, width: int, scale: tuple[float, float], generator: torch.Generator
) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random resized crop: area share uniform in ``scale``, log-uniform
    aspect ratio in ``CROP_RATIO``; after ``CROP_ATTEMPTS`` misses, the centred largest box whose
    ratio is allowed."""
    area = height * width
    log_low, log_high = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    for _ in range(CROP_ATTEMPTS):
        share, log_ratio = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * share)
        ratio = math.exp(log_low + (log_high - log_low) * log_ratio)
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (), generator=generator))
            left = int(torch.randint(0, width - w + 1, (), generator=generator))
            return top, left, h, w
    ratio = width / height
    if ratio < CROP_RATIO[0]:
        w, h = width, round(width / CROP_RATIO[0])
    elif ratio > CROP_RATIO[1]:
        w, h = round(height * CROP_RATIO[1]), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


class DeviceDecoder:
    """An ``EncodedBatch`` -> a ``Batch`` on ``device``: decoded in one call, each image cropped
    and resized there; ``augmentation`` None gives the evaluation view."""

    def __init__(
        self,
        *,
        size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        augmentation: Augmentation | None,
        device: torch.device,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> None:
        self.size, self.augmentation, self.device, self.memory_format = size, augmentation, device, memory_format
        self.normalise = Normaliser(mean, std, device)

    def __call__(self, encoded: list[torch.Tensor], labels: torch.Tensor, seeds: torch.Tensor) -> Batch:
        decoded = self._decoded(encoded)  # [(3, H_i, W_i) uint8]
        views = [
            self._train_view(image, seed) if self.augmentation is not None else self._eval_view(image)
            for image, seed in zip(decoded, seeds.tolist(), strict=True)
        ]
        images = self.normalise(torch.stack(views))  # (B, 3, S, S) float32
        return images.contiguous(memory_format=self.memory_format), labels.to(self.device, non_blocking=True)

    def _decoded(self, items: list[torch.Tensor]) -> list[torch.Tensor]:
        """The JPEGs (1-D bytes) decoded in one call; images the workers decoded moved here."""
        jpegs = [i for i, item in enumerate(items) if item.dim() == 1]
        if len(jpegs) == len(items):
            return decode_jpegs_rgb(items, self.device)
        images = [item.to(self.device, non_blocking=True) for item in items]
        if jpegs:
            for i, image in zip(jpegs, decode_jpegs_rgb([items[i] for i in jpegs], self.device), strict=True):
                images[i] = image
        return images

    def _train_view(self, image: torch.Tensor, seed: int) -> torch.Tensor:
        assert self.augmentation is not None
        generator = torch.Generator().manual_seed(seed)
        _, height, width = image.shape
        top, left, h, w = resized_crop_box(height, width, (self.augmentation.crop_scale_min, 1.0), generator)
        view = TF.resized_crop(image.float(), top, left, h, w, [self.size, self.size], antialias=True)  # (3, S, S)
        if self.augmentation.flip and float(torch.rand((), generator=generator)) < 0.5:
            view = view.flip(-1)
        return view

    def _eval_view(self, image: torch.Tensor) -> torch.Tensor:
        view = TF.resize(image.float(), [eval_resize_size(self.size)], antialias=True)  # short side 256/224 * S
        return TF.center_crop(view, [self.size, self.size])  # (3, S, S)
