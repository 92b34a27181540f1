"""ShuffleNet V1 (Zhang et al., CVPR 2018), CIFAR variant of the CRD benchmark: 3 groups.

Stem: a 1x1 convolution to 24 channels at stride 1 (no max pool). Three stages of (4, 8, 4) units
with output widths (240, 480, 960); the first unit of each stage has stride 2 and concatenates an
average-pooled copy of its input. A 32x32 input gives a 960 x 4 x 4 final map.

As in the CRD code, a ReLU follows the depthwise convolution's batch norm (the paper has none
there), so the network is the one behind the benchmark's published numbers; it changes no shape
and no parameter count.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sdd_core.models.base import PooledLinearClassifier, init_conv_bn_linear_
from sdd_core.models.channel_shuffle import channel_shuffle

STEM_CHANNELS = 24


class ShuffleUnit(nn.Module):
    """Grouped 1x1 -> shuffle -> depthwise 3x3 -> grouped 1x1, with add (stride 1) or concat (2)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, groups: int) -> None:
        super().__init__()
        self.stride = stride
        # A stride-2 unit concatenates its pooled input, so its branch makes the remaining width.
        branch_channels = out_channels - in_channels if stride == 2 else out_channels
        mid_channels = branch_channels // 4
        # The stem has only 24 channels, too few to group: the first 1x1 after it is ungrouped.
        self.first_groups = 1 if in_channels == STEM_CHANNELS else groups
        self.reduce = nn.Conv2d(in_channels, mid_channels, 1, groups=self.first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.depthwise = nn.Conv2d(
            mid_channels, mid_channels, 3, stride=stride, padding=1, groups=mid_channels, bias=False
        )
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.expand = nn.Conv2d(mid_channels, branch_channels, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(branch_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride == 2:
            self.shortcut = nn.AvgPool2d(3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.reduce(x)))
        out = channel_shuffle(out, self.first_groups)
        out = F.relu(self.bn2(self.depthwise(out)))
        out = self.bn3(self.expand(out))
        shortcut = self.shortcut(x)
        if self.stride == 2:
            return F.relu(torch.cat([out, shortcut], dim=1))  # (B, C_out, H/2, W/2)
        return F.relu(out + shortcut)


class ShuffleNetV1(PooledLinearClassifier):
    """ShuffleNet V1: ``groups`` groups; ``stage_units[i]`` units of width ``stage_widths[i]``."""

    def __init__(
        self,
        num_classes: int,
        stage_widths: tuple[int, ...] = (240, 480, 960),
        stage_units: tuple[int, ...] = (4, 8, 4),
        groups: int = 3,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, STEM_CHANNELS, 1, bias=False),
            nn.BatchNorm2d(STEM_CHANNELS),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        in_channels = STEM_CHANNELS
        for width, num_units in zip(stage_widths, stage_units, strict=True):
            units = []
            for unit_index in range(num_units):
                stride = 2 if unit_index == 0 else 1
                units.append(ShuffleUnit(in_channels, width, stride, groups))
                in_channels = width
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(in_channels, num_classes)
        init_conv_bn_linear_(self)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))  # (B, 960, H/8, W/8)

    def get_classifier(self) -> nn.Linear:
        return self.fc


def shufflenetv1(num_classes: int) -> ShuffleNetV1:
    """ShuffleNet V1 (g = 3) of the CRD benchmark, 0.95M parameters with 100 classes."""
    return ShuffleNetV1(num_classes)
