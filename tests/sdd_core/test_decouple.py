import pytest
import torch
from torch import nn

from sdd_core.decouple import check_scales, multiscale_logits, num_regions


def _head(channels: int = 6, classes: int = 5) -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(channels, classes)


def test_region_zero_is_the_true_global_logit_on_a_map_not_divisible_by_four():
    features = torch.randn(3, 6, 7, 7)
    head = _head()
    logits = multiscale_logits(features, head, [1, 2, 4])
    assert logits.shape == (3, 5, 21)
    torch.testing.assert_close(logits[:, :, 0], head(features.mean((2, 3))))


def test_pool_then_head_equals_head_then_pool():
    features = torch.randn(2, 6, 8, 8)
    head = _head()
    logits = multiscale_logits(features, head, [1, 2, 4])
    logit_map = torch.einsum("bchw,kc->bkhw", features, head.weight) + head.bias[:, None, None]  # (B, K, H, W)
    expected = torch.cat(
        [nn.functional.adaptive_avg_pool2d(logit_map, s).flatten(2) for s in (1, 2, 4)], dim=2
    )
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_region_order_is_scales_as_given_then_row_major():
    # A map whose value is constant per quadrant makes each 2x2 cell identifiable.
    features = torch.zeros(1, 1, 4, 4)
    features[0, 0, :2, :2], features[0, 0, :2, 2:] = 1.0, 2.0
    features[0, 0, 2:, :2], features[0, 0, 2:, 2:] = 3.0, 4.0
    head = nn.Linear(1, 1, bias=False)
    nn.init.ones_(head.weight)
    logits = multiscale_logits(features, head, [2, 1])
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
    multiscale_logits(features, head, [1, 2, 4]).sum().backward()
    assert features.grad is not None and head.weight.grad is not None
