"""Wide ResNets WRN-d-w (Zagoruyko & Komodakis, 2016) as used by the CRD benchmark.

Pre-activation basic blocks (BN -> ReLU -> conv, twice); ``n = (d - 4) / 6`` blocks per stage,
widths (16, 16w, 32w, 64w), strides (1, 2, 2), then a final BN -> ReLU. The feature map returned
by ``forward_features`` is taken after that final ReLU (it is what gets pooled): 8x8 on 32x32.
"""

from __future__ import annotations

from torch import Tensor, nn

from sdd_core.models.base import PooledLinearClassifier, init_conv_bn_linear_


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3 twice; a 1x1 convolution on the activated input when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=False)
        self.projection: nn.Conv2d | None = None
        if stride != 1 or in_channels != out_channels:
            self.projection = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        activated = self.relu(self.bn1(x))
        out = self.conv1(activated)
        out = self.conv2(self.relu(self.bn2(out)))
        # The identity path carries the raw input; a projection sees the activated one.
        shortcut = x if self.projection is None else self.projection(activated)
        return out + shortcut


class WideResNet(PooledLinearClassifier):
    """WRN of depth ``depth`` (``6n + 4``) and widening factor ``widen_factor``."""

    def __init__(self, depth: int, widen_factor: int, num_classes: int) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"WRN depth must be 6n + 4 with n >= 1, got {depth}")
        blocks_per_stage = (depth - 4) // 6
        widths = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        stages: list[nn.Module] = []
        in_channels = 16
        for stage_index, out_channels in enumerate(widths):
            first_stride = 1 if stage_index == 0 else 2
            blocks = []
            for block_index in range(blocks_per_stage):
                stride = first_stride if block_index == 0 else 1
                blocks.append(PreActBlock(in_channels, out_channels, stride))
                in_channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.final_bn = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(in_channels, num_classes)
        init_conv_bn_linear_(self)
        nn.init.zeros_(self.fc.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        out = self.stages(self.stem(x))
        return self.relu(self.final_bn(out))  # (B, 64w, H/4, W/4)

    def get_classifier(self) -> nn.Linear:
        return self.fc


def wrn_16_1(num_classes: int) -> WideResNet:
    """WRN-16-1, 0.18M parameters with 100 classes."""
    return WideResNet(16, 1, num_classes)


def wrn_16_2(num_classes: int) -> WideResNet:
    """WRN-16-2, 0.70M parameters with 100 classes."""
    return WideResNet(16, 2, num_classes)


def wrn_40_1(num_classes: int) -> WideResNet:
    """WRN-40-1, 0.57M parameters with 100 classes."""
    return WideResNet(40, 1, num_classes)


def wrn_40_2(num_classes: int) -> WideResNet:
    """WRN-40-2, 2.25M parameters with 100 classes."""
    return WideResNet(40, 2, num_classes)
