"""ShuffleNet V2 (Ma et al., ECCV 2018), CIFAR variant of the CRD benchmark (width 1x).

Stem: a 1x1 convolution to 24 channels at stride 1 (no max pool). Three stages, each a stride-2
down-sampling unit followed by (3, 7, 3) basic units, widths (116, 232, 464); then a 1x1
convolution to 1024 channels. A 32x32 input gives a 1024 x 4 x 4 final map.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sdd_core.models.base import PooledLinearClassifier, init_conv_bn_linear_
from sdd_core.models.channel_shuffle import channel_shuffle

STEM_CHANNELS = 24
# (stage widths, final 1x1 width) per width multiplier, as in the paper's table 5.
WIDTHS: dict[float, tuple[tuple[int, int, int], int]] = {
    0.5: ((48, 96, 192), 1024),
    1.0: ((116, 232, 464), 1024),
    1.5: ((176, 352, 704), 1024),
    2.0: ((244, 488, 976), 2048),
}


def _conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    padding = kernel_size // 2
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]


class BasicUnit(nn.Module):
    """Split the channels in half; transform one half (1x1, depthwise 3x3, 1x1); concat; shuffle."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.branch = nn.Sequential(
            *_conv_bn(half, half, 1),
            nn.ReLU(inplace=True),
            *_conv_bn(half, half, 3, groups=half),
            *_conv_bn(half, half, 1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        kept, transformed = x.chunk(2, dim=1)  # 2 x (B, C/2, H, W)
        out = torch.cat([kept, self.branch(transformed)], dim=1)  # (B, C, H, W)
        return channel_shuffle(out, 2)


class DownsampleUnit(nn.Module):
    """Two stride-2 branches on the whole input, each making half of the output channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.left = nn.Sequential(
            *_conv_bn(in_channels, in_channels, 3, stride=2, groups=in_channels),
            *_conv_bn(in_channels, half, 1),
            nn.ReLU(inplace=True),
        )
        self.right = nn.Sequential(
            *_conv_bn(in_channels, half, 1),
            nn.ReLU(inplace=True),
            *_conv_bn(half, half, 3, stride=2, groups=half),
            *_conv_bn(half, half, 1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat([self.left(x), self.right(x)], dim=1)  # (B, C_out, H/2, W/2)
        return channel_shuffle(out, 2)


class ShuffleNetV2(PooledLinearClassifier):
    """ShuffleNet V2 at width multiplier ``width`` (0.5, 1.0, 1.5 or 2.0)."""

    def __init__(self, num_classes: int, width: float = 1.0, stage_units: tuple[int, int, int] = (3, 7, 3)) -> None:
        super().__init__()
        if width not in WIDTHS:
            raise ValueError(f"width must be one of {sorted(WIDTHS)}, got {width}")
        stage_widths, final_width = WIDTHS[width]
        self.stem = nn.Sequential(*_conv_bn(3, STEM_CHANNELS, 1), nn.ReLU(inplace=True))
        stages: list[nn.Module] = []
        in_channels = STEM_CHANNELS
        for stage_width, num_units in zip(stage_widths, stage_units, strict=True):
            units: list[nn.Module] = [DownsampleUnit(in_channels, stage_width)]
            units += [BasicUnit(stage_width) for _ in range(num_units)]
            stages.append(nn.Sequential(*units))
            in_channels = stage_width
        self.stages = nn.Sequential(*stages)
        self.final_conv = nn.Sequential(*_conv_bn(in_channels, final_width, 1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(final_width, num_classes)
        init_conv_bn_linear_(self)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.final_conv(self.stages(self.stem(x)))  # (B, 1024, H/8, W/8)

    def get_classifier(self) -> nn.Linear:
        return self.fc


def shufflenetv2(num_classes: int) -> ShuffleNetV2:
    """ShuffleNet V2 (1x) of the CRD benchmark, 1.36M parameters with 100 classes."""
    return ShuffleNetV2(num_classes)
