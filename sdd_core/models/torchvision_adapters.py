"""Wrappers that give torchvision's ImageNet classifiers the zoo's contract.

The torchvision model is kept whole as ``self.net`` (so its state-dict keys, and its pretrained
weight files, keep their names under a ``net.`` prefix). For families whose head is global
average pooling (+ dropout) + one Linear, an adapter re-states the part of torchvision's forward
that precedes the pooling as ``forward_features``; the base class's ``forward`` then equals
torchvision's own (pool -> dropout -> Linear). For other heads, ``forward`` is torchvision's and
``forward_features`` refuses with the reason.
"""

from __future__ import annotations

from torch import Tensor, nn

from sdd_core.errors import ModelError, UnsupportedForSDError
from sdd_core.models.base import PooledLinearClassifier


class TorchvisionPooledAdapter(PooledLinearClassifier):
    """Base of the SD-capable wrappers: the head is ``net.<head_name>`` after optional dropout.

    Subclasses only say which of torchvision's modules make the feature map.
    """

    def __init__(self, net: nn.Module, head_name: str, dropout_name: str | None = None) -> None:
        super().__init__()
        self.net = net
        self.head_name = head_name
        self.dropout_name = dropout_name
        if not isinstance(self.net.get_submodule(head_name), nn.Linear):
            raise ModelError(f"{type(net).__name__}.{head_name} is not an nn.Linear here")

    def get_classifier(self) -> nn.Linear:
        head = self.net.get_submodule(self.head_name)
        assert isinstance(head, nn.Linear)
        return head

    def run_modules(self, x: Tensor, *names: str) -> Tensor:
        """``x`` through ``net.<name>`` for each of ``names`` in turn: the part of torchvision's
        forward that an adapter re-states."""
        for name in names:
            x = self.net.get_submodule(name)(x)
        return x

    def pre_logits(self, pooled: Tensor) -> Tensor:
        # torchvision's Dropout before the Linear: active in train mode only, as there.
        if self.dropout_name is None:
            return pooled
        return self.net.get_submodule(self.dropout_name)(pooled)


class ResNetAdapter(TorchvisionPooledAdapter):
    """ResNet, ResNeXt, Wide ResNet: stem and max pool, then layer1..layer4."""

    def forward_features(self, x: Tensor) -> Tensor:
        modules = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        return self.run_modules(x, *modules)  # (B, C, H/32, W/32)


class RegNetAdapter(TorchvisionPooledAdapter):
    """RegNetX / RegNetY: stem, then the trunk."""

    def forward_features(self, x: Tensor) -> Tensor:
        return self.run_modules(x, "stem", "trunk_output")  # (B, C, H/32, W/32)


class ShuffleNetV2Adapter(TorchvisionPooledAdapter):
    """ShuffleNet V2: stem, max pool, three stages, final 1x1 convolution."""

    def forward_features(self, x: Tensor) -> Tensor:
        return self.run_modules(x, "conv1", "maxpool", "stage2", "stage3", "stage4", "conv5")  # (B, C, H/32, W/32)


class FeaturesAdapter(TorchvisionPooledAdapter):
    """MobileNetV2 and EfficientNet (V1 and V2): everything before pooling is ``net.features``."""

    def forward_features(self, x: Tensor) -> Tensor:
        return self.run_modules(x, "features")  # (B, C, H/32, W/32)


class SwinAdapter(TorchvisionPooledAdapter):
    """Swin Transformer (V1 and V2): token stages and per-token LayerNorm, as a channels-first map.

    The LayerNorm acts on each position separately, before pooling, so the head after the pool
    is still a single Linear and local logits are well defined.
    """

    def forward_features(self, x: Tensor) -> Tensor:
        tokens = self.run_modules(x, "features", "norm")  # (B, H/32, W/32, C)
        return self.run_modules(tokens, "permute")  # (B, C, H/32, W/32)


class TorchvisionUnpooledAdapter(PooledLinearClassifier):
    """A torchvision classifier whose head is not pooling + one Linear: usable for CE and KD only.

    ``forward`` is torchvision's own; ``get_classifier`` returns the final Linear;
    ``forward_features`` raises ``UnsupportedForSDError`` with ``sd_unsupported_reason``.
    """

    def __init__(self, net: nn.Module, head_name: str, reason: str) -> None:
        super().__init__()
        self.net = net
        self.head_name = head_name
        self.sd_unsupported_reason = reason
        if not isinstance(self.net.get_submodule(head_name), nn.Linear):
            raise ModelError(f"{type(net).__name__}.{head_name} is not an nn.Linear here")

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (B, K)

    def forward_features(self, x: Tensor) -> Tensor:
        raise UnsupportedForSDError(self.sd_unsupported_reason or "no pooled feature map")

    def get_classifier(self) -> nn.Linear:
        head = self.net.get_submodule(self.head_name)
        assert isinstance(head, nn.Linear)
        return head
