import pytest
import torch
from torch import nn

from sdd_core.decouple import check_scales, multiscale_logits, num_regions, region_logits
from sdd_core.models import create_model


def _head(channels: int = 6, classes: int = 5) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(channels, classes)


def test_region_zero_is_the_true_global_logit_on_a_map_not_divisible_by_four():
    features = torch.randn(3, 6, 7, 7)
    head = _head()
    logits = region_logits(features, head, [1, 2, 4])
    assert logits.shape == (3, 5, 21)
    torch.testing.assert_close(logits[:, :, 0], head(features.mean((2, 3))))


def test_pool_then_head_equals_head_then_pool():
    features = torch.randn(2, 6, 8, 8)
    head = _head()
    logits = region_logits(features, head, [1, 2, 4])
    logit_map = torch.einsum("bchw,kc->bkhw", features, head.weight) + head.bias[:, None, None]  # (B, K, H, W)
    expected = torch.cat([nn.functional.adaptive_avg_pool2d(logit_map, s).flatten(2) for s in (1, 2, 4)], dim=2)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_region_order_is_scales_as_given_then_row_major():
    # A map whose value is constant per quadrant makes each 2x2 cell identifiable.
    features = torch.zeros(1, 1, 4, 4)
    features[0, 0, :2, :2], features[0, 0, :2, 2:] = 1.0, 2.0
    features[0, 0, 2:, :2], features[0, 0, 2:, 2:] = 3.0, 4.0
    head = nn.Linear(1, 1, bias=False)
    nn.init.ones_(head.weight)
    logits = region_logits(features, head, [2, 1])
    assert logits.shape == (1, 1, 5)
    assert logits[0, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 2.5]


def test_num_regions():
    assert num_regions([1, 2, 4]) == 21
    assert num_regions([1]) == 1


@pytest.mark.parametrize("scales", [[], [0], [1, 1], [1, 9]])
def test_bad_scales_are_refused(scales):
    with pytest.raises(ValueError):
        check_scales(scales, 8, 8)


def test_gradients_reach_features_and_head():
    features = torch.randn(2, 6, 4, 4, requires_grad=True)
    head = _head()
    region_logits(features, head, [1, 2, 4]).sum().backward()
    assert features.grad is not None and head.weight.grad is not None


# A model whose forward applies dropout between pooling and its head (torchvision's MobileNetV2,
# p = 0.2): its local logits must see the same dropout, in every region, as its forward does.
SCALES = [1, 2]


@pytest.fixture(scope="module")
def dropout_model():
    torch.manual_seed(0)
    model = create_model("tv/mobilenet_v2", 10)
    assert isinstance(model.net.classifier[0], nn.Dropout) and model.net.classifier[0].p > 0
    return model


@pytest.fixture(scope="module")
def images():
    return torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))  # 2x2 final feature map


def _without_dropout(model, images):
    """The local logits with nothing between pooling and the head."""
    return region_logits(model.forward_features(images), model.get_classifier(), SCALES)


def test_in_eval_mode_region_zero_is_the_forward_and_no_region_drops_out(dropout_model, images):
    dropout_model.eval()
    with torch.no_grad():
        local = multiscale_logits(dropout_model, images, SCALES)  # (B, K, N)
        assert local.shape == (4, 10, 5)
        torch.testing.assert_close(local[:, :, 0], dropout_model(images))
        torch.testing.assert_close(local, _without_dropout(dropout_model, images))


def test_in_train_mode_every_region_drops_out(dropout_model, images):
    dropout_model.train()
    with torch.no_grad():
        torch.manual_seed(2)
        first = multiscale_logits(dropout_model, images, SCALES)
        torch.manual_seed(3)
        second = multiscale_logits(dropout_model, images, SCALES)
        torch.manual_seed(2)
        reference = _without_dropout(dropout_model, images)  # batch norm in train mode: batch statistics
    for region in range(num_regions(SCALES)):
        assert not torch.allclose(first[:, :, region], second[:, :, region]), region
        assert not torch.allclose(first[:, :, region], reference[:, :, region]), region


def test_in_train_mode_region_zero_is_the_forward_from_the_same_rng_state(dropout_model, images):
    dropout_model.train()
    with torch.no_grad():
        torch.manual_seed(4)
        local = multiscale_logits(dropout_model, images, SCALES)
        torch.manual_seed(4)
        forward = dropout_model(images)
    torch.testing.assert_close(local[:, :, 0], forward)
