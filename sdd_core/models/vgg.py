"""CIFAR VGG with batch norm, as used by the CRD benchmark (vgg8, vgg11, vgg13, vgg16, vgg19).

Five stages of 3x3 conv-BN-ReLU layers with widths (64, 128, 256, 512, 512); a 2x2 max pool
follows each of the first three stages, so a 32x32 input gives a 512 x 4 x 4 final map; then
global average pooling and a single ``Linear(512, K)``.

Differences from the CRD code, both deliberate:
- CRD adds a fourth max pool (after stage 4) only when the input is 64 px high; here the network
  does not depend on the input size, so a 64x64 input gives an 8x8 map (H/8 always).
- Convolutions have no bias (each is followed by batch norm, which cancels it); CRD keeps the
  bias, which adds 0.04% parameters and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from sdd_core.models.base import PooledLinearClassifier, init_conv_bn_linear_

STAGE_WIDTHS = (64, 128, 256, 512, 512)
# Number of max-pooled stages: the first three stages end with a 2x2 max pool.
POOLED_STAGES = 3


def _conv_bn_relu_stage(in_channels: int, out_channels: int, num_convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        in_channels = out_channels
    return nn.Sequential(*layers)


class CifarVGG(PooledLinearClassifier):
    """VGG whose stage ``i`` has ``convs_per_stage[i]`` conv-BN-ReLU layers."""

    def __init__(self, convs_per_stage: Sequence[int], num_classes: int) -> None:
        super().__init__()
        if len(convs_per_stage) != len(STAGE_WIDTHS) or min(convs_per_stage) < 1:
            raise ValueError(f"need {len(STAGE_WIDTHS)} stages of >= 1 conv, got {convs_per_stage}")
        layers: list[nn.Module] = []
        in_channels = 3
        for stage_index, (width, num_convs) in enumerate(zip(STAGE_WIDTHS, convs_per_stage, strict=True)):
            layers.append(_conv_bn_relu_stage(in_channels, width, num_convs))
            if stage_index < POOLED_STAGES:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            in_channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(in_channels, num_classes)
        init_conv_bn_linear_(self)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)  # (B, 512, H/8, W/8)

    def get_classifier(self) -> nn.Linear:
        return self.classifier


def vgg8(num_classes: int) -> CifarVGG:
    """VGG-8 (one conv per stage), 3.96M parameters with 100 classes."""
    return CifarVGG((1, 1, 1, 1, 1), num_classes)


def vgg11(num_classes: int) -> CifarVGG:
    """VGG-11 (configuration A), 9.27M parameters with 100 classes."""
    return CifarVGG((1, 1, 2, 2, 2), num_classes)


def vgg13(num_classes: int) -> CifarVGG:
    """VGG-13 (configuration B), 9.46M parameters with 100 classes."""
    return CifarVGG((2, 2, 2, 2, 2), num_classes)


def vgg16(num_classes: int) -> CifarVGG:
    """VGG-16 (configuration D), 14.77M parameters with 100 classes."""
    return CifarVGG((2, 2, 3, 3, 3), num_classes)


def vgg19(num_classes: int) -> CifarVGG:
    """VGG-19 (configuration E), 20.08M parameters with 100 classes."""
    return CifarVGG((2, 2, 4, 4, 4), num_classes)
