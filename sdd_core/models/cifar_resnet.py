"""CIFAR ResNets of depth 6n + 2 (He et al., 2016, section 4.2) as used by the CRD benchmark.

A 3x3 stem, then three stages of ``n`` basic blocks at strides 1, 2, 2, then global average
pooling and one Linear. Widths (16, 16, 32, 64) for resnet8..resnet110; the "x4" variants of the
CRD benchmark use (32, 64, 128, 256). On 32x32 input the final feature map is 8x8.
Shortcuts that change shape are a 1x1 convolution plus batch norm (option B).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from sdd_core.models.base import PooledLinearClassifier, init_conv_bn_linear_


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity, or a strided 1x1 conv + BN where the residual changes shape."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection, ReLU after the sum."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection_shortcut(in_channels, out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(PooledLinearClassifier):
    """ResNet of depth ``6n + 2`` with stem width ``widths[0]`` and stage widths ``widths[1:]``."""

    def __init__(self, depth: int, widths: Sequence[int], num_classes: int) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}")
        if len(widths) != 4:
            raise ValueError(f"widths must give the stem and three stages, got {list(widths)}")
        blocks_per_stage = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        in_channels = widths[0]
        for stage_index, out_channels in enumerate(widths[1:]):
            first_stride = 1 if stage_index == 0 else 2
            blocks = []
            for block_index in range(blocks_per_stage):
                stride = first_stride if block_index == 0 else 1
                blocks.append(BasicBlock(in_channels, out_channels, stride))
                in_channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(in_channels, num_classes)
        init_conv_bn_linear_(self)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))  # (B, C, H/4, W/4)

    def get_classifier(self) -> nn.Linear:
        return self.fc


_NARROW = (16, 16, 32, 64)
_WIDE_X4 = (32, 64, 128, 256)


def resnet8(num_classes: int) -> CifarResNet:
    """ResNet-8, 0.08M parameters with 100 classes."""
    return CifarResNet(8, _NARROW, num_classes)


def resnet14(num_classes: int) -> CifarResNet:
    """ResNet-14, 0.18M parameters with 100 classes."""
    return CifarResNet(14, _NARROW, num_classes)


def resnet20(num_classes: int) -> CifarResNet:
    """ResNet-20, 0.28M parameters with 100 classes."""
    return CifarResNet(20, _NARROW, num_classes)


def resnet32(num_classes: int) -> CifarResNet:
    """ResNet-32, 0.47M parameters with 100 classes."""
    return CifarResNet(32, _NARROW, num_classes)


def resnet44(num_classes: int) -> CifarResNet:
    """ResNet-44, 0.67M parameters with 100 classes."""
    return CifarResNet(44, _NARROW, num_classes)


def resnet56(num_classes: int) -> CifarResNet:
    """ResNet-56, 0.86M parameters with 100 classes."""
    return CifarResNet(56, _NARROW, num_classes)


def resnet110(num_classes: int) -> CifarResNet:
    """ResNet-110, 1.74M parameters with 100 classes."""
    return CifarResNet(110, _NARROW, num_classes)


def resnet8x4(num_classes: int) -> CifarResNet:
    """ResNet-8 with widths (32, 64, 128, 256), 1.23M parameters with 100 classes."""
    return CifarResNet(8, _WIDE_X4, num_classes)


def resnet32x4(num_classes: int) -> CifarResNet:
    """ResNet-32 with widths (32, 64, 128, 256), 7.43M parameters with 100 classes."""
    return CifarResNet(32, _WIDE_X4, num_classes)
