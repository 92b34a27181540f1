"""The CIFAR ResNet-50 of the CRD benchmark: ImageNet ResNet-50's bottleneck stages on a 3x3 stem.

Stem: one 3x3 convolution (64 channels, stride 1) with no max pool, so a 32x32 input keeps its
size until the stages. Stages of (3, 4, 6, 3) bottleneck blocks with widths (64, 128, 256, 512),
expansion 4, strides (1, 2, 2, 2): the final feature map is 2048 x 4 x 4 on 32x32 input.
"""

from __future__ import annotations

from torch import Tensor, nn

from sdd_core.models.base import PooledLinearClassifier, init_conv_bn_linear_
from sdd_core.models.cifar_resnet import projection_shortcut

EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, each with batch norm."""

    def __init__(self, in_channels: int, width: int, stride: int) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection_shortcut(in_channels, out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class CifarBottleneckResNet(PooledLinearClassifier):
    """Bottleneck ResNet with a CIFAR stem; ``blocks_per_stage`` (3, 4, 6, 3) gives ResNet-50."""

    def __init__(self, blocks_per_stage: tuple[int, int, int, int], num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        in_channels = 64
        widths = (64, 128, 256, 512)
        for stage_index, (width, num_blocks) in enumerate(zip(widths, blocks_per_stage, strict=True)):
            first_stride = 1 if stage_index == 0 else 2
            blocks = []
            for block_index in range(num_blocks):
                stride = first_stride if block_index == 0 else 1
                blocks.append(Bottleneck(in_channels, width, stride))
                in_channels = width * EXPANSION
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(in_channels, num_classes)
        init_conv_bn_linear_(self)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))  # (B, 2048, H/8, W/8)

    def get_classifier(self) -> nn.Linear:
        return self.fc


def resnet50(num_classes: int) -> CifarBottleneckResNet:
    """CIFAR ResNet-50, 23.71M parameters with 100 classes."""
    return CifarBottleneckResNet((3, 4, 6, 3), num_classes)
