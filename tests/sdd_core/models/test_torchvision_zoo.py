"""torchvision models under ``tv/``: the adapters' contract, SD refusals and local-only weights.

Kept cheap: four small models run on the CPU at 64x64; everything else is built on the meta
device, which allocates nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from sdd_core.errors import ModelError, UnsupportedForSDError, WeightsUnavailableError
from sdd_core.models import create_model, list_models, require_sd_support, sd_support
from sdd_core.models.pretrained_weights import expected_weights_path

REQUIRED_SD_CAPABLE = [
    "tv/resnet18",
    "tv/resnet34",
    "tv/resnet50",
    "tv/resnet101",
    "tv/resnet152",
    "tv/resnext50_32x4d",
    "tv/wide_resnet50_2",
    "tv/mobilenet_v2",
    "tv/shufflenet_v2_x0_5",
    "tv/shufflenet_v2_x1_0",
    "tv/shufflenet_v2_x1_5",
    "tv/shufflenet_v2_x2_0",
    "tv/efficientnet_b0",
    "tv/efficientnet_b7",
    "tv/efficientnet_v2_s",
    "tv/regnet_x_400mf",
    "tv/regnet_y_400mf",
]
REQUIRED_SD_REFUSED = [
    "tv/mobilenet_v3_small",
    "tv/mobilenet_v3_large",
    "tv/convnext_tiny",
    "tv/convnext_small",
    "tv/vgg16",
    "tv/alexnet",
]


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private torch hub folder: $TORCH_HOME/hub, as torch.hub.get_dir() reads it on every call
    (torch.hub.set_dir would pin a folder for every later test of the process)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert torch.hub.get_dir() == str(tmp_path / "hub")
    yield tmp_path / "hub"


def test_required_torchvision_models_are_registered() -> None:
    names = set(list_models())
    assert set(REQUIRED_SD_CAPABLE + REQUIRED_SD_REFUSED) <= names


@pytest.mark.parametrize("name", REQUIRED_SD_CAPABLE)
def test_sd_capable_heads(name: str) -> None:
    assert sd_support(name) is None
    require_sd_support(name)


@pytest.mark.parametrize("name", REQUIRED_SD_REFUSED)
def test_sd_refusals_give_a_reason(name: str) -> None:
    reason = sd_support(name)
    assert isinstance(reason, str) and reason.startswith(f"{name}: its head")
    with pytest.raises(UnsupportedForSDError, match=name):
        require_sd_support(name)


@pytest.mark.parametrize("name", ["tv/resnet18", "tv/efficientnet_b0", "tv/mobilenet_v2", "tv/shufflenet_v2_x0_5"])
def test_adapter_keeps_torchvision_forward_and_exposes_the_pooled_head(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, 7).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(images)
        features = model.forward_features(images)
        head = model.get_classifier()
        pooled_logits = head(features.mean((2, 3)))
        torchvision_logits = model.net(images)

    assert logits.shape == (2, 7)
    assert features.shape[0] == 2 and features.shape[2:] == (2, 2)  # stride 32
    assert isinstance(head, nn.Linear) and head.in_features == features.shape[1]
    assert head.out_features == 7
    torch.testing.assert_close(logits, pooled_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits, torchvision_logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["tv/regnet_x_400mf", "tv/swin_t", "tv/resnext50_32x4d"])
def test_other_sd_families_on_the_meta_device(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name, 5)
        features = model.forward_features(torch.empty(1, 3, 224, 224))
        logits = model(torch.empty(1, 3, 224, 224))
    assert all(p.is_meta for p in model.parameters())
    assert features.shape == (1, model.get_classifier().in_features, 7, 7)
    assert logits.shape == (1, 5)


def test_mobilenet_v3_is_usable_for_kd_but_refuses_feature_maps() -> None:
    torch.manual_seed(0)
    model = create_model("tv/mobilenet_v3_small", 3).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(images)
        torch.testing.assert_close(logits, model.net(images))
    assert logits.shape == (2, 3)
    head = model.get_classifier()
    assert isinstance(head, nn.Linear) and head.out_features == 3
    with pytest.raises(UnsupportedForSDError, match="Hardswish"):
        model.forward_features(images)


def test_convnext_on_meta_refuses_feature_maps() -> None:
    with torch.device("meta"):
        model = create_model("tv/convnext_tiny", 4)
        logits = model(torch.empty(1, 3, 64, 64))
    assert logits.shape == (1, 4)
    assert isinstance(model.get_classifier(), nn.Linear)
    assert model.get_classifier().out_features == 4
    with pytest.raises(UnsupportedForSDError, match="LayerNorm2d"):
        model.forward_features(torch.empty(1, 3, 64, 64, device="meta"))


def test_missing_pretrained_weights_name_the_expected_file(hub_dir: Path) -> None:
    with pytest.raises(WeightsUnavailableError) as caught:
        create_model("tv/resnet18", 10, pretrained=True)
    expected = hub_dir / "checkpoints" / "resnet18-f37072fd.pth"
    assert expected_weights_path("resnet18") == expected
    assert str(expected) in str(caught.value)
    assert "download.pytorch.org" in str(caught.value)


def _write_weights_file(tv_name: str, state_dict: dict[str, torch.Tensor]) -> Path:
    path = expected_weights_path(tv_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, path)
    return path


def test_pretrained_weights_load_from_the_hub_cache(hub_dir: Path) -> None:
    torch.manual_seed(0)
    reference = create_model("tv/mobilenet_v2", 1000).net.state_dict()
    _write_weights_file("mobilenet_v2", reference)

    imagenet_model = create_model("tv/mobilenet_v2", 1000, pretrained=True)
    for key, tensor in imagenet_model.net.state_dict().items():
        torch.testing.assert_close(tensor, reference[key], rtol=0, atol=0)

    # Another class count: everything but the head comes from the file.
    transferred = create_model("tv/mobilenet_v2", 10, pretrained=True).net.state_dict()
    assert transferred["classifier.1.weight"].shape == (10, 1280)
    for key, tensor in transferred.items():
        if not key.startswith("classifier.1."):
            torch.testing.assert_close(tensor, reference[key], rtol=0, atol=0)


def test_weights_of_another_architecture_are_refused(hub_dir: Path) -> None:
    wrong = create_model("tv/shufflenet_v2_x0_5", 1000).net.state_dict()
    _write_weights_file("mobilenet_v2", wrong)
    with pytest.raises(ModelError, match="does not fit"):
        create_model("tv/mobilenet_v2", 1000, pretrained=True)


def test_pretrained_flag_must_be_a_bool() -> None:
    with pytest.raises(ModelError, match="pretrained"):
        create_model("tv/resnet18", 10, pretrained="yes")
