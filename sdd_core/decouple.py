"""Multi-scale logits: the scale decoupling of SDD (Wei et al., CVPR 2024, Sec. 3.2).

A classifier's global logit is ``head(pre_logits(mean(F)))`` for its final feature map ``F``, where
``pre_logits`` is whatever the model applies between pooling and its linear head (identity, or
dropout for torchvision's MobileNetV2 and EfficientNets). SDD pools ``F`` on an ``s x s`` grid for
every scale ``s`` and sends each cell through the same ``pre_logits`` and head, giving one local
logit per region. Regions are ordered by scale (in the order given), each grid row-major, so with
``scales[0] == 1`` region 0 is the model's true global logit.

Paper vs authors' code: the authors pool a 4x4 grid once and derive the 2x2 and 1x1 grids from it,
which is exact only when H and W divide by 4 (on ImageNet's 7x7 maps the "global" logit becomes a
centre-weighted average). Here every scale is pooled directly from ``F`` with
``adaptive_avg_pool2d``, which is exact for any map size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sdd_core.models.base import PooledLinearClassifier


def num_regions(scales: Sequence[int]) -> int:
    """N = sum of s^2 over the scales: the number of local logits per image."""
    return sum(s * s for s in scales)


def check_scales(scales: Sequence[int], height: int, width: int) -> None:
    """Raise ValueError unless every scale is in [1, min(H, W)] and none repeats."""
    if not scales:
        raise ValueError("scales must not be empty")
    for s in scales:
        if not isinstance(s, int) or s < 1:
            raise ValueError(f"scale {s!r} is not an integer >= 1")
        if s > min(height, width):
            raise ValueError(f"scale {s} exceeds the {height}x{width} feature map")
    if len(set(scales)) != len(scales):
        raise ValueError(f"scales {list(scales)} repeat a value")


def multiscale_logits(model: PooledLinearClassifier, images: torch.Tensor, scales: Sequence[int]) -> torch.Tensor:
    """The local logits (B, K, N) of a zoo model: its feature map, its ``pre_logits``, its head.

    In eval mode region 0 (``scales[0] == 1``) equals ``model(images)``. In train mode a model
    with head dropout drops out every region's pooled vector, as its forward drops out the global
    one; the global region draws its mask first and from a (B, C) tensor, as ``forward`` does, so
    from the same RNG state region 0 equals ``model(images)`` in train mode too.
    """
    features = model.forward_features(images)  # (B, C, H, W)
    return region_logits(features, model.get_classifier(), scales, pre_logits=model.pre_logits)


def region_logits(
    features: torch.Tensor,
    classifier: nn.Linear,
    scales: Sequence[int],
    *,
    pre_logits: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Local logits of every region at every scale, from a feature map and a head.

    Args:
        features: the final feature map F, (B, C, H, W), before global pooling.
        classifier: the model's linear head, C -> K.
        scales: grid sizes s, each in [1, min(H, W)].
        pre_logits: what the model applies to a pooled (rows, C) batch before the head (see
            ``PooledLinearClassifier.pre_logits``); called once per scale, in the order of
            ``scales``. None applies nothing.

    Returns:
        (B, K, N) logits with N = sum(s^2); region order: scales as given, each grid row-major.

    Pooling comes before the head: ``head(mean(F_cell))`` equals ``mean(head(F)_cell)`` because
    the head is affine, and pooling first costs N*C*K multiply-adds instead of H*W*C*K. (With
    dropout in between, only pooling first is what the model's forward does.)
    """
    batch, channels, height, width = features.shape
    check_scales(scales, height, width)
    cells = []
    for s in scales:
        pooled = F.adaptive_avg_pool2d(features, s).flatten(2)  # (B, C, s*s), row-major cells
        rows = pooled.transpose(1, 2).reshape(batch * s * s, channels)  # (B*s*s, C), sample-major
        if pre_logits is not None:
            rows = pre_logits(rows)  # (B*s*s, C); for s = 1 exactly the (B, C) batch forward() sees
        cells.append(rows.reshape(batch, s * s, channels))  # (B*s*s, C) -> (B, s*s, C)
    logits = classifier(torch.cat(cells, dim=1))  # (B, N, C) -> (B, N, K)
    return logits.transpose(1, 2)  # (B, K, N)
