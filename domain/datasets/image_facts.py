"""What an ingestion learns from its images: working size and pipeline, channel statistics, sizes.

The same rules as ``sdd_core.data.image_folder`` applies to a folder, so a dataset trains the
same whether it was uploaded as a folder or ingested into shards:

* the pipeline and working size from ``SIZE_PROBE_IMAGES`` training images spread over the split:
  the CIFAR pipeline at the largest side among them when every side is small, else the ImageNet
  pipeline at 224 px (``sdd_core.data.transforms.pipeline_for``);
* per-channel mean and std of at most ``STATISTICS_SAMPLE_LIMIT`` training images spread over the
  split, as the evaluation transform sees them (``measuring_transform``), decoding at most
  ``DECODE_PIXEL_BUDGET`` pixels; measured as the images stream past (``ChannelMoments``) rather
  than held, so the sample of a large-image dataset costs no memory;
* the images' sizes (min, max, median width and height) from every header read.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import torch
from PIL import Image

from sdd_core.data.image_folder import DECODE_PIXEL_BUDGET, SIZE_PROBE_IMAGES, STATISTICS_SAMPLE_LIMIT
from sdd_core.data.statistics import MIN_STD, Triple, evenly_spaced_indices
from sdd_core.data.transforms import IMAGENET_IMAGE_SIZE, PipelineKind, measuring_transform, pipeline_for

__all__ = [
    "DECODE_PIXEL_BUDGET",
    "SIZE_PROBE_IMAGES",
    "STATISTICS_SAMPLE_LIMIT",
    "ChannelMoments",
    "evenly_spaced_indices",
    "pipeline_and_size",
    "size_summary",
]


def pipeline_and_size(probed: Sequence[tuple[int, int]]) -> tuple[PipelineKind, int]:
    """The pipeline and working size the probed images' ``(width, height)`` call for."""
    largest_side = max(max(width, height) for width, height in probed)
    kind = pipeline_for(largest_side, largest_side)
    return kind, largest_side if kind == "cifar" else IMAGENET_IMAGE_SIZE


class ChannelMoments:
    """Running per-channel sums of the measured images (``sdd_core.data.statistics.channel_statistics``'s
    arithmetic, one image at a time), within a budget of decoded pixels."""

    def __init__(self, kind: PipelineKind, size: int, pixel_budget: int = DECODE_PIXEL_BUDGET) -> None:
        self.kind, self.size = kind, size
        self.transform = measuring_transform(kind, size)
        self.pixel_budget = pixel_budget
        self.decoded_pixels = 0
        self.images = 0
        self._sum = torch.zeros(3, dtype=torch.float64)
        self._sum_sq = torch.zeros(3, dtype=torch.float64)
        self._count = 0

    def wants(self, width: int, height: int) -> bool:
        """Whether an image of this size still fits the budget (the first one always does)."""
        return self.images == 0 or self.decoded_pixels + width * height <= self.pixel_budget

    def add(self, image: Image.Image) -> None:
        """Measure one decoded RGB image."""
        self.decoded_pixels += image.width * image.height
        self.images += 1
        pixels = self.transform(image).to(torch.float64).reshape(3, -1)  # (3, S * S)
        self._sum += pixels.sum(dim=1)
        self._sum_sq += pixels.square().sum(dim=1)
        self._count += pixels.shape[1]

    def mean_std(self) -> tuple[Triple, Triple]:
        """Mean and population std per channel; a constant channel's std is 1 (``MIN_STD``)."""
        if self._count == 0:
            raise ValueError("no image was measured")
        mean = self._sum / self._count
        variance = (self._sum_sq / self._count - mean.square()).clamp_min(0.0)
        std = [s if s >= MIN_STD else 1.0 for s in (math.sqrt(v) for v in variance.tolist())]
        m = mean.tolist()
        return (m[0], m[1], m[2]), (std[0], std[1], std[2])


def size_summary(sizes: Sequence[tuple[int, int]]) -> dict[str, list[int]]:
    """``{"min", "max", "median"}``: ``[width, height]`` each, over the images' headers."""
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    return {
        "min": [min(widths), min(heights)],
        "max": [max(widths), max(heights)],
        "median": [int(statistics.median(widths)), int(statistics.median(heights))],
    }
