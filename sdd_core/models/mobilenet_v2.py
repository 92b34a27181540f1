"""MobileNetV2 (Sandler et al., CVPR 2018), CIFAR variant of the CRD benchmark at width 0.5.

Differences from the ImageNet network, as in the CRD code: the second group of blocks keeps
stride 1 (so a 32x32 input ends at 2x2, not 1x1), every block has its 1x1 expansion layer even
when the expansion factor is 1, activations are ReLU, and the last 1x1 convolution keeps 1280
channels for widths <= 1. The final map is 1280 x 2 x 2 on 32x32 input.
"""

from __future__ import annotations

from torch import Tensor, nn

from sdd_core.models.base import PooledLinearClassifier, init_conv_bn_linear_

# (expansion factor, output channels at width 1, blocks, stride of the first block)
BLOCK_GROUPS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def _conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    return [
        nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=False
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class InvertedResidual(nn.Module):
    """1x1 expand -> depthwise 3x3 -> linear 1x1 project; residual when shapes match."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        self.block = nn.Sequential(
            *_conv_bn_relu(in_channels, hidden, 1),
            *_conv_bn_relu(hidden, hidden, 3, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return x + out if self.use_residual else out


class CifarMobileNetV2(PooledLinearClassifier):
    """MobileNetV2 with channel multiplier ``width_mult`` (the CRD zoo's ``mobilenetv2`` is 0.5)."""

    def __init__(self, num_classes: int, width_mult: float = 0.5, expansion: int = 6) -> None:
        super().__init__()
        in_channels = int(STEM_CHANNELS * width_mult)
        layers: list[nn.Module] = _conv_bn_relu(3, in_channels, 3, stride=2)
        for group_expansion, channels, num_blocks, first_stride in BLOCK_GROUPS:
            out_channels = int(channels * width_mult)
            block_expansion = expansion if group_expansion != 1 else 1
            for block_index in range(num_blocks):
                stride = first_stride if block_index == 0 else 1
                layers.append(InvertedResidual(in_channels, out_channels, stride, block_expansion))
                in_channels = out_channels
        last_channels = int(LAST_CHANNELS * width_mult) if width_mult > 1.0 else LAST_CHANNELS
        layers += _conv_bn_relu(in_channels, last_channels, 1)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last_channels, num_classes)
        init_conv_bn_linear_(self)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)  # (B, 1280, H/16, W/16)

    def get_classifier(self) -> nn.Linear:
        return self.classifier


def mobilenetv2(num_classes: int) -> CifarMobileNetV2:
    """MobileNetV2 at width 0.5 (CRD's ``mobile_half``), 0.81M parameters with 100 classes."""
    return CifarMobileNetV2(num_classes, width_mult=0.5)
