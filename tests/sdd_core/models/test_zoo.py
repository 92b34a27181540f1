"""The CIFAR zoo: names, the pooled-linear contract, feature-map sizes and parameter counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sdd_core.errors import ModelError
from sdd_core.models import (
    PooledLinearClassifier,
    create_model,
    list_models,
    require_sd_support,
    sd_support,
)

# Final feature-map side on a 32x32 input (SDD paper, CRD benchmark).
CIFAR_FEATURE_SIDE = {
    "resnet8": 8,
    "resnet14": 8,
    "resnet20": 8,
    "resnet32": 8,
    "resnet44": 8,
    "resnet56": 8,
    "resnet110": 8,
    "resnet8x4": 8,
    "resnet32x4": 8,
    "wrn_16_1": 8,
    "wrn_16_2": 8,
    "wrn_40_1": 8,
    "wrn_40_2": 8,
    "vgg8": 4,
    "vgg11": 4,
    "vgg13": 4,
    "vgg16": 4,
    "vgg19": 4,
    "resnet50": 4,
    "shufflenetv1": 4,
    "shufflenetv2": 4,
    "mobilenetv2": 2,
}
CIFAR_MODELS = sorted(CIFAR_FEATURE_SIDE)

# Parameters in millions with 100 classes, as reported for the CRD / SDD zoo.
REPORTED_PARAMS_M = {
    "resnet8x4": 1.23,
    "resnet32x4": 7.43,
    "resnet20": 0.28,
    "resnet32": 0.47,
    "resnet56": 0.86,
    "resnet110": 1.74,
    "wrn_16_2": 0.70,
    "wrn_40_1": 0.57,
    "wrn_40_2": 2.25,
    "vgg8": 3.96,
    "vgg13": 9.46,
    "shufflenetv1": 0.95,
    "shufflenetv2": 1.36,
    "mobilenetv2": 0.81,
    "resnet50": 23.71,
}


def test_list_models_holds_every_cifar_name_sorted() -> None:
    names = list_models()
    assert names == sorted(names)
    assert set(CIFAR_MODELS) <= set(names)


@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_pooled_linear_contract(name: str) -> None:
    torch.manual_seed(0)
    num_classes = 10
    model = create_model(name, num_classes).eval()
    assert isinstance(model, PooledLinearClassifier)
    images = torch.randn(2, 3, 32, 32)

    with torch.no_grad():
        logits = model(images)
        features = model.forward_features(images)
        head = model.get_classifier()
        pooled_logits = head(features.mean((2, 3)))

    side = CIFAR_FEATURE_SIDE[name]
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, num_classes)
    assert features.ndim == 4 and features.shape[0] == 2
    assert features.shape[2:] == (side, side)
    assert isinstance(head, nn.Linear)
    assert head.in_features == features.shape[1]
    assert head.out_features == num_classes
    torch.testing.assert_close(logits, pooled_logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(REPORTED_PARAMS_M))
def test_parameter_count_matches_the_reported_zoo(name: str) -> None:
    with torch.device("meta"):  # counting needs no memory
        model = create_model(name, 100)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert millions == pytest.approx(REPORTED_PARAMS_M[name], rel=0.03)


@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_meta_device_construction_and_shape_inference(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name, 100)
        features = model.forward_features(torch.empty(1, 3, 32, 32))
        logits = model(torch.empty(1, 3, 32, 32))
    side = CIFAR_FEATURE_SIDE[name]
    assert all(p.is_meta for p in model.parameters())
    assert features.shape == (1, model.get_classifier().in_features, side, side)
    assert logits.shape == (1, 100)


def test_training_step_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    model = create_model("resnet8", 5).train()
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", CIFAR_MODELS)
def test_cifar_models_support_sd(name: str) -> None:
    assert sd_support(name) is None
    require_sd_support(name)  # does not raise


def test_unknown_name_names_close_matches_not_the_whole_zoo() -> None:
    with pytest.raises(ModelError) as caught:
        create_model("resnet21", 10)
    message = str(caught.value)
    assert "unknown model 'resnet21'; did you mean" in message and "'resnet20'" in message
    assert "wrn_40_2" not in message and "known; the catalog lists them" in message
    with pytest.raises(ModelError):
        sd_support("resnet21")
    with pytest.raises(ModelError):
        require_sd_support("resnet21")


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, True, "10"])
def test_bad_class_count_is_refused(num_classes: object) -> None:
    with pytest.raises(ModelError, match="num_classes"):
        create_model("resnet8", num_classes)  # type: ignore[arg-type]


def test_unknown_options_are_named() -> None:
    with pytest.raises(ModelError) as caught:
        create_model("resnet8", 10, pretrained=True, width=2)
    message = str(caught.value)
    assert "pretrained" in message and "width" in message and "none" in message
