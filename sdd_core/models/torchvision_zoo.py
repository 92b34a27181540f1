"""torchvision's ImageNet classifiers in the zoo, under the names ``tv/<torchvision name>``.

Each family says where the model's final Linear sits and, if its head is not global average
pooling + (dropout +) one Linear, why SDD cannot use it. Those models are still registered, for
CE and KD. Families left out: DenseNet and MNASNet (their pretrained files need key rewriting or
versioned loading), SqueezeNet (its classifier is a convolution, there is no Linear to return),
GoogLeNet and Inception V3 (auxiliary heads), ViT-H/14 (its default weights need 518 px inputs).

Nothing here builds a model until ``build_torchvision_model`` is called, so the name list and the
SD reasons are cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torchvision
from torch import nn
from torch.nn.modules.module import (
    register_module_buffer_registration_hook,
    register_module_parameter_registration_hook,
)

from sdd_core.errors import ModelError
from sdd_core.models.base import PooledLinearClassifier
from sdd_core.models.pretrained_weights import load_pretrained_
from sdd_core.models.torchvision_adapters import (
    FeaturesAdapter,
    RegNetAdapter,
    ResNetAdapter,
    ShuffleNetV2Adapter,
    SwinAdapter,
    TorchvisionPooledAdapter,
    TorchvisionUnpooledAdapter,
)

PREFIX = "tv/"
_NO_LOCAL_LOGITS = "so local logits cannot be formed from the feature map"


@dataclass(frozen=True)
class TorchvisionFamily:
    """Models that share a head layout.

    ``adapter`` is set for SD-capable families; ``sd_unsupported_reason`` for the others.
    """

    names: tuple[str, ...]
    head_name: str
    adapter: type[TorchvisionPooledAdapter] | None = None
    dropout_name: str | None = None
    sd_unsupported_reason: str | None = None
    # The builder computes layer widths with tensor arithmetic, which the meta device cannot do.
    builder_needs_real_tensors: bool = False


_FAMILIES: tuple[TorchvisionFamily, ...] = (
    TorchvisionFamily(
        names=(
            "resnet18",
            "resnet34",
            "resnet50",
            "resnet101",
            "resnet152",
            "resnext50_32x4d",
            "resnext101_32x8d",
            "resnext101_64x4d",
            "wide_resnet50_2",
            "wide_resnet101_2",
        ),
        head_name="fc",
        adapter=ResNetAdapter,
    ),
    TorchvisionFamily(
        names=(
            "regnet_x_400mf",
            "regnet_x_800mf",
            "regnet_x_1_6gf",
            "regnet_x_3_2gf",
            "regnet_x_8gf",
            "regnet_x_16gf",
            "regnet_x_32gf",
            "regnet_y_400mf",
            "regnet_y_800mf",
            "regnet_y_1_6gf",
            "regnet_y_3_2gf",
            "regnet_y_8gf",
            "regnet_y_16gf",
            "regnet_y_32gf",
            "regnet_y_128gf",
        ),
        head_name="fc",
        adapter=RegNetAdapter,
        builder_needs_real_tensors=True,
    ),
    TorchvisionFamily(
        names=("shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"),
        head_name="fc",
        adapter=ShuffleNetV2Adapter,
    ),
    TorchvisionFamily(
        names=(
            "mobilenet_v2",
            "efficientnet_b0",
            "efficientnet_b1",
            "efficientnet_b2",
            "efficientnet_b3",
            "efficientnet_b4",
            "efficientnet_b5",
            "efficientnet_b6",
            "efficientnet_b7",
            "efficientnet_v2_s",
            "efficientnet_v2_m",
            "efficientnet_v2_l",
        ),
        head_name="classifier.1",
        dropout_name="classifier.0",
        adapter=FeaturesAdapter,
    ),
    TorchvisionFamily(
        names=("swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b"),
        head_name="head",
        adapter=SwinAdapter,
    ),
    TorchvisionFamily(
        names=("mobilenet_v3_small", "mobilenet_v3_large"),
        head_name="classifier.3",
        sd_unsupported_reason=(
            f"its head applies Linear -> Hardswish -> Dropout -> Linear after pooling, {_NO_LOCAL_LOGITS}"
        ),
    ),
    TorchvisionFamily(
        names=("convnext_tiny", "convnext_small", "convnext_base", "convnext_large"),
        head_name="classifier.2",
        sd_unsupported_reason=(
            f"its head applies LayerNorm2d to the pooled vector before the Linear, {_NO_LOCAL_LOGITS}"
        ),
    ),
    TorchvisionFamily(
        names=("alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"),
        head_name="classifier.6",
        sd_unsupported_reason=(
            f"its head pools to a fixed grid, flattens it and applies three Linear layers with "
            f"ReLU and Dropout, {_NO_LOCAL_LOGITS}"
        ),
    ),
    TorchvisionFamily(
        names=("maxvit_t",),
        head_name="classifier.5",
        sd_unsupported_reason=(
            f"its head applies LayerNorm -> Linear -> Tanh -> Linear after pooling, {_NO_LOCAL_LOGITS}"
        ),
    ),
    TorchvisionFamily(
        names=("vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32"),
        head_name="heads.head",
        sd_unsupported_reason=(
            "it classifies the transformer's class token, not a pooled feature map, so local logits cannot be formed"
        ),
    ),
)


def _family_by_name() -> dict[str, TorchvisionFamily]:
    available = set(torchvision.models.list_models(module=torchvision.models))
    return {
        name: family
        for family in _FAMILIES
        for name in family.names
        if name in available  # an older torchvision may lack a few
    }


_FAMILY_BY_NAME = _family_by_name()


def torchvision_model_names() -> list[str]:
    """The torchvision names this zoo wraps (without the ``tv/`` prefix), sorted."""
    return sorted(_FAMILY_BY_NAME)


def sd_unsupported_reason(tv_name: str) -> str | None:
    """Why SDD cannot use ``tv_name`` (given without prefix): one sentence naming the model.

    None when the head is global average pooling + (dropout +) one Linear.
    """
    reason = _FAMILY_BY_NAME[tv_name].sd_unsupported_reason
    return None if reason is None else f"{PREFIX}{tv_name}: {reason}"


@contextmanager
def _cpu_arithmetic_meta_tensors() -> Iterator[None]:
    """Inside a ``torch.device("meta")`` block: compute on the CPU, store modules' tensors on meta.

    Each parameter and buffer is moved to meta as it is registered, so at most one layer's worth
    of CPU memory is used. The registration hooks are global, hence removed straight after.
    """

    # A registration hook's return value replaces the tensor registered (torch's documented
    # behaviour, though its annotation says the hook returns None): hence ``-> Any``.
    def to_meta_parameter(module: nn.Module, name: str, param: nn.Parameter | None) -> Any:
        if param is None:
            return None
        return nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    def to_meta_buffer(module: nn.Module, name: str, buffer: torch.Tensor | None) -> Any:
        return None if buffer is None else buffer.to("meta")

    handles = [
        register_module_parameter_registration_hook(to_meta_parameter),
        register_module_buffer_registration_hook(to_meta_buffer),
    ]
    try:
        with torch.device("cpu"):
            yield
    finally:
        for handle in handles:
            handle.remove()


def build_torchvision_model(tv_name: str, num_classes: int, pretrained: bool = False) -> PooledLinearClassifier:
    """Build torchvision's ``tv_name`` with a ``num_classes``-way head, wrapped for the zoo.

    With ``pretrained=True`` the default ImageNet weights are loaded from the local torch hub
    cache (see ``pretrained_weights``); the head is fresh when ``num_classes != 1000``.
    """
    if not isinstance(pretrained, bool):
        raise ModelError(f"{PREFIX}{tv_name}: pretrained must be true or false, got {pretrained!r}")
    family = _FAMILY_BY_NAME[tv_name]
    if family.builder_needs_real_tensors and torch.get_default_device().type == "meta":
        with _cpu_arithmetic_meta_tensors():
            net = torchvision.models.get_model(tv_name, weights=None, num_classes=num_classes)
    else:
        net = torchvision.models.get_model(tv_name, weights=None, num_classes=num_classes)
    if pretrained:
        load_pretrained_(net, tv_name, family.head_name, num_classes)
    if family.adapter is None:
        reason = sd_unsupported_reason(tv_name)
        assert reason is not None
        return TorchvisionUnpooledAdapter(net, family.head_name, reason)
    return family.adapter(net, family.head_name, family.dropout_name)
